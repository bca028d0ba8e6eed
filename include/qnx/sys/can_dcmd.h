/*
 * <sys/can_dcmd.h> - the devctl() interface of QNX's CAN drivers (the
 * io-can / dev-can-* managers): the commands, struct can_msg and the
 * structures the commands carry.  Plain data shared by a CAN manager and
 * its clients, so that both compile unchanged; peermap has no CAN driver
 * (a manager is written with resmgr_attach(), as examples/qnx/can_manager.c
 * is).
 *
 * Command numbers follow QNX 7.0's header.  (QNX's documentation pages give
 * CAN_CMD_CODE + 9 and + 11 for the raw-frame commands; those collide with
 * the extended-message commands, so the header's 103-105 are used.)
 * Layouts are QNX's: the compiler places the members exactly as QNX's does
 * on the same ABI (tests/qnx/qnx_can_dcmd.c checks the sizes).
 */
#ifndef PEERMAP_QNX_SYS_CAN_DCMD_H
#define PEERMAP_QNX_SYS_CAN_DCMD_H

#include <stdint.h>
#include <devctl.h>

#define CAN_MSG_DATA_MAX    0x8        /* data bytes in a classic CAN frame */
#define CAN_MSG_MID_UNKNOWN UINT32_MAX /* message written with write(), not a devctl */

/* How a driver's mailboxes are used. */
typedef enum {
    CANDEV_MODE_IO,        /* each mailbox sends/receives one message ID */
    CANDEV_MODE_RAW_FRAME  /* one rx and one tx mailbox, whole frames by devctl */
} CANDEV_MODE;

typedef struct can_msg_ext {
    uint32_t timestamp;       /* when the frame was received */
    uint32_t is_extended_mid; /* 1: 29-bit identifier, 0: 11-bit */
    uint32_t is_remote_frame; /* 1: remote frame request, 0: data frame */
} CAN_MSG_EXT;

typedef struct can_msg {
    uint8_t     dat[CAN_MSG_DATA_MAX]; /* data bytes */
    uint8_t     len;                   /* how many of them are used */
    uint32_t    mid;                   /* message identifier */
    CAN_MSG_EXT ext;
} CAN_MSG;

/* Device-specific error words.  (As in QNX's header, the name
 * CAN_DEVCTL_ERROR is also the command defined below, which hides the type
 * name from then on: use struct can_devctl_error.) */
typedef struct can_devctl_error {
    uint32_t drvr1;
    uint32_t drvr2;
    uint32_t drvr3;
    uint32_t drvr4;
} CAN_DEVCTL_ERROR;

/* Counters (CAN_DEVCTL_GET_STATS). */
typedef struct can_devctl_stats {
    uint32_t transmitted_frames;
    uint32_t received_frames;
    uint32_t missing_ack;
    uint32_t total_frame_errors;
    uint32_t stuff_errors;
    uint32_t form_errors;
    uint32_t dom_bit_recess_errors;
    uint32_t recess_bit_dom_errors;
    uint32_t parity_errors;
    uint32_t crc_errors;
    uint32_t hw_receive_overflows;
    uint32_t sw_receive_q_full;
    uint32_t error_warning_state_count;
    uint32_t error_passive_state_count;
    uint32_t bus_off_state_count;
    uint32_t bus_idle_count;
    uint32_t power_down_count;
    uint32_t wake_up_count;
    uint32_t rx_interrupts;
    uint32_t tx_interrupts;
    uint32_t total_interrupts;
} CAN_DEVCTL_STATS;

/* What the device is and how it is set up (CAN_DEVCTL_GET_INFO). */
typedef struct can_devctl_info {
    char        description[64];
    uint32_t    msgq_size;          /* message queue entries */
    uint32_t    waitq_size;         /* client wait queue entries */
    CANDEV_MODE mode;
    uint32_t    bit_rate;
    uint16_t    bit_rate_prescaler;
    uint8_t     sync_jump_width;    /* time quanta */
    uint8_t     time_segment_1;
    uint8_t     time_segment_2;
    uint32_t    num_tx_mboxes;
    uint32_t    num_rx_mboxes;
    uint32_t    loopback_external;
    uint32_t    loopback_internal;
    uint32_t    autobus_on;         /* bus on again by itself after bus off */
    uint32_t    silent;             /* receive only, no acknowledgements */
} CAN_DEVCTL_INFO;

/* Any command's data. */
typedef union {
    uint32_t         mid;
    uint32_t         mfilter;
    uint32_t         prio;
    uint32_t         timestamp;
    uint32_t         print_debug_all;
    CAN_DEVCTL_ERROR error;
    CAN_MSG          canmsg;
    CAN_DEVCTL_STATS stats;
    CAN_DEVCTL_INFO  info;
} DCMD_DATA;

#define CAN_CMD_CODE 1

#define CAN_DEVCTL_GET_MID          __DIOF(_DCMD_MISC, CAN_CMD_CODE + 0, uint32_t)
#define CAN_DEVCTL_SET_MID          __DIOT(_DCMD_MISC, CAN_CMD_CODE + 1, uint32_t)
#define CAN_DEVCTL_GET_MFILTER      __DIOF(_DCMD_MISC, CAN_CMD_CODE + 2, uint32_t)
#define CAN_DEVCTL_SET_MFILTER      __DIOT(_DCMD_MISC, CAN_CMD_CODE + 3, uint32_t)
#define CAN_DEVCTL_GET_PRIO         __DIOF(_DCMD_MISC, CAN_CMD_CODE + 4, uint32_t)
#define CAN_DEVCTL_SET_PRIO         __DIOT(_DCMD_MISC, CAN_CMD_CODE + 5, uint32_t)
#define CAN_DEVCTL_GET_TIMESTAMP    __DIOF(_DCMD_MISC, CAN_CMD_CODE + 6, uint32_t)
#define CAN_DEVCTL_SET_TIMESTAMP    __DIOT(_DCMD_MISC, CAN_CMD_CODE + 7, uint32_t)
#define CAN_DEVCTL_READ_CANMSG_EXT  __DIOF(_DCMD_MISC, CAN_CMD_CODE + 8, struct can_msg)
#define CAN_DEVCTL_WRITE_CANMSG_EXT __DIOT(_DCMD_MISC, CAN_CMD_CODE + 9, struct can_msg)
#define CAN_DEVCTL_ERROR            __DIOF(_DCMD_MISC, CAN_CMD_CODE + 100, struct can_devctl_error)
#define CAN_DEVCTL_DEBUG_INFO       __DION(_DCMD_MISC, CAN_CMD_CODE + 101)
#define CAN_DEVCTL_DEBUG_INFO2      __DIOT(_DCMD_MISC, CAN_CMD_CODE + 102, uint32_t)
#define CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK __DIOF(_DCMD_MISC, CAN_CMD_CODE + 103, struct can_msg)
#define CAN_DEVCTL_RX_FRAME_RAW_BLOCK   __DIOF(_DCMD_MISC, CAN_CMD_CODE + 104, struct can_msg)
#define CAN_DEVCTL_TX_FRAME_RAW     __DIOT(_DCMD_MISC, CAN_CMD_CODE + 105, struct can_msg)
#define CAN_DEVCTL_GET_STATS        __DIOF(_DCMD_MISC, CAN_CMD_CODE + 106, struct can_devctl_stats)
#define CAN_DEVCTL_GET_INFO         __DIOF(_DCMD_MISC, CAN_CMD_CODE + 107, struct can_devctl_info)

#endif
