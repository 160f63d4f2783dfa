#ifndef FLOWSPEC_CNFTNL_SHIM_H
#define FLOWSPEC_CNFTNL_SHIM_H
// The one C surface of flowspec-nft: libnftnl + libmnl + the kernel's netfilter uapi.
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <errno.h>
#include <sched.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
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
#endif
