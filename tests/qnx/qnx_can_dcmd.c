/*
 * <sys/can_dcmd.h>, the devctl interface of QNX's CAN drivers: the
 * structures have QNX's layout on this ABI, the commands encode direction,
 * size and class as <devctl.h> defines, and no two commands share a value,
 * so that a manager's switch on the command tells them apart.
 */
#include <stddef.h>
#include <string.h>
#include <sys/can_dcmd.h>

#include "qnx_check.h"

static const char *which(int dcmd)
{
    switch (dcmd) {
    case CAN_DEVCTL_GET_MID:              return "get mid";
    case CAN_DEVCTL_SET_MID:              return "set mid";
    case CAN_DEVCTL_GET_MFILTER:          return "get mfilter";
    case CAN_DEVCTL_SET_MFILTER:          return "set mfilter";
    case CAN_DEVCTL_GET_PRIO:             return "get prio";
    case CAN_DEVCTL_SET_PRIO:             return "set prio";
    case CAN_DEVCTL_GET_TIMESTAMP:        return "get timestamp";
    case CAN_DEVCTL_SET_TIMESTAMP:        return "set timestamp";
    case CAN_DEVCTL_READ_CANMSG_EXT:      return "read";
    case CAN_DEVCTL_WRITE_CANMSG_EXT:     return "write";
    case CAN_DEVCTL_ERROR:                return "error";
    case CAN_DEVCTL_DEBUG_INFO:           return "debug";
    case CAN_DEVCTL_DEBUG_INFO2:          return "debug2";
    case CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK: return "rx raw";
    case CAN_DEVCTL_RX_FRAME_RAW_BLOCK:   return "rx raw block";
    case CAN_DEVCTL_TX_FRAME_RAW:         return "tx raw";
    case CAN_DEVCTL_GET_STATS:            return "stats";
    case CAN_DEVCTL_GET_INFO:             return "info";
    default:                              return NULL;
    }
}

int main(void)
{
    /* Layouts. */
    EXPECT_EQ(CAN_MSG_DATA_MAX, 8);
    EXPECT_EQ(sizeof(CAN_MSG_EXT), 12);
    EXPECT_EQ(offsetof(struct can_msg, len), 8);
    EXPECT_EQ(offsetof(struct can_msg, mid), 12);
    EXPECT_EQ(offsetof(struct can_msg, ext), 16);
    EXPECT_EQ(sizeof(struct can_msg), 28);
    EXPECT_EQ(sizeof(struct can_devctl_error), 16); /* CAN_DEVCTL_ERROR is also a command */
    EXPECT_EQ(sizeof(CAN_DEVCTL_STATS), 21 * 4);
    EXPECT_EQ(offsetof(CAN_DEVCTL_INFO, bit_rate_prescaler), 80);
    EXPECT_EQ(offsetof(CAN_DEVCTL_INFO, num_tx_mboxes), 88);
    EXPECT_EQ(sizeof(CAN_DEVCTL_INFO), 112);
    EXPECT_EQ(sizeof(DCMD_DATA), sizeof(CAN_DEVCTL_INFO));

    /* Encoding: (size << 16) + (class << 8) + command + direction. */
    EXPECT_EQ((unsigned)CAN_DEVCTL_GET_MID, 0x40040501u);
    EXPECT_EQ((unsigned)CAN_DEVCTL_SET_MID, 0x80040502u);
    EXPECT_EQ((unsigned)CAN_DEVCTL_WRITE_CANMSG_EXT, 0x801c050au);
    EXPECT_EQ((unsigned)CAN_DEVCTL_DEBUG_INFO, 0x0566u);
    EXPECT_EQ(get_device_direction(CAN_DEVCTL_READ_CANMSG_EXT), DEVDIR_FROM);
    EXPECT_EQ(get_device_direction(CAN_DEVCTL_TX_FRAME_RAW), DEVDIR_TO);
    EXPECT_EQ(((unsigned)CAN_DEVCTL_GET_STATS >> 16) & 0x3fff, sizeof(CAN_DEVCTL_STATS));

    /* Every command is told apart by a manager's switch. */
    int all[] = { CAN_DEVCTL_GET_MID, CAN_DEVCTL_SET_MID, CAN_DEVCTL_GET_MFILTER,
                  CAN_DEVCTL_SET_MFILTER, CAN_DEVCTL_GET_PRIO, CAN_DEVCTL_SET_PRIO,
                  CAN_DEVCTL_GET_TIMESTAMP, CAN_DEVCTL_SET_TIMESTAMP,
                  CAN_DEVCTL_READ_CANMSG_EXT, CAN_DEVCTL_WRITE_CANMSG_EXT, CAN_DEVCTL_ERROR,
                  CAN_DEVCTL_DEBUG_INFO, CAN_DEVCTL_DEBUG_INFO2,
                  CAN_DEVCTL_RX_FRAME_RAW_NOBLOCK, CAN_DEVCTL_RX_FRAME_RAW_BLOCK,
                  CAN_DEVCTL_TX_FRAME_RAW, CAN_DEVCTL_GET_STATS, CAN_DEVCTL_GET_INFO };
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++) {
        EXPECT(which(all[i]) != NULL);
        for (unsigned j = 0; j < i; j++)
            EXPECT(all[i] != all[j]);
    }

    /* A frame as a client fills it. */
    struct can_msg m;
    memset(&m, 0, sizeof m);
    m.mid = 0x123;
    m.len = 3;
    memcpy(m.dat, "\x01\x02\x03", 3);
    m.ext.is_extended_mid = 0;
    DCMD_DATA d;
    d.canmsg = m;
    EXPECT_EQ(d.canmsg.mid, 0x123);
    EXPECT_EQ(d.mid, *(uint32_t *)&d);

    return qnx_result("qnx_can_dcmd");
}
