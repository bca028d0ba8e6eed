/*
 * `peermap export`: the tool's subcommand (tools/peermap.c calls it with
 * argv[0] = "peermap export").  Returns the exit status.
 */
#ifndef PEERMAP_EXPORT_MAIN_H
#define PEERMAP_EXPORT_MAIN_H

int pm_export_main(int argc, char **argv);

#endif
