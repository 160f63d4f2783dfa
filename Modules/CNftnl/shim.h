#ifndef FLOWSPEC_CNFTNL_SHIM_H
#define FLOWSPEC_CNFTNL_SHIM_H
// The one C surface of flowspec-nft: libnftnl + libmnl + the kernel's netfilter and rtnetlink uapi.
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/batch.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>
#include <libnftnl/set.h>
#include <libnftnl/object.h>
#include <libnftnl/udata.h>
#include <libnftnl/gen.h>

// Glibc's Swift overlay is built without _GNU_SOURCE.
#ifndef CLONE_NEWNET
#define CLONE_NEWNET 0x40000000
#endif
extern int unshare(int flags);
extern int setns(int fd, int nstype);

static inline int flowspec_clone_newnet(void) { return CLONE_NEWNET; }

// Socket constants that Swift may import with an inconvenient type (or not at all).
static inline int flowspec_msg_dontwait(void) { return MSG_DONTWAIT; }
static inline int flowspec_so_sndbufforce(void) { return SO_SNDBUFFORCE; }
static inline int flowspec_so_rcvbufforce(void) { return SO_RCVBUFFORCE; }

// The kernel's batch messages carry the nfnetlink subsystem in the nfgenmsg res_id.
static inline uint16_t flowspec_nftables_res_id(void) { return htons(NFNL_SUBSYS_NFTABLES); }

// NFT_DATA_VERDICT (0xffffff00) imports as a negative enum constant on some toolchains.
static inline uint32_t flowspec_nft_data_verdict(void) { return (uint32_t)NFT_DATA_VERDICT; }

// glibc's malloc_trim (malloc.h is not in the Glibc module): returns whole free pages of the
// heap to the system (used while a large batch is encoded, see NftConnection.replace).
#include <malloc.h>
static inline int flowspec_malloc_trim(size_t pad) { return malloc_trim(pad); }
/* glibc malloc arenas at most (mallopt M_ARENA_MAX). */
static inline int flowspec_malloc_arena_max(int n) { return mallopt(M_ARENA_MAX, n); }

// Sizes of uapi structs (NLMSG_HDRLEN and friends are macros Swift cannot call).
static inline size_t flowspec_nlmsghdr_len(void) { return NLMSG_HDRLEN; }
static inline size_t flowspec_nlmsg_align(size_t len) { return NLMSG_ALIGN(len); }
// rtnetlink's header sizes (struct layouts Swift sees, named as the kernel names them).
static inline size_t flowspec_rtmsg_len(void) { return sizeof(struct rtmsg); }
static inline size_t flowspec_fib_rule_hdr_len(void) { return sizeof(struct fib_rule_hdr); }
static inline size_t flowspec_ifinfomsg_len(void) { return sizeof(struct ifinfomsg); }
#endif
