// SPDX-License-Identifier: GPL-2.0
// mark_to_priority: a tc classifier for clsact egress (direct-action). It copies skb->mark into skb->priority, so
// the root qdisc (HTB, prio, ets, mqprio, fq_codel, cake) classifies on the value a Perf sender put in each
// datagram's SO_MARK cmsg: per-packet priority on kernels before 6.14, which reject the SO_PRIORITY cmsg.
// A mark of 0 leaves the priority alone. The clsact egress hook runs before the root qdisc's enqueue.
//
// Documentation: MarkClassifier loads the same five instructions in-process (ClassifierProgram.MarkToPriority), with no
// compiler; a test checks that `clang -O2 -target bpf -c mark_to_priority.bpf.c` gives exactly those.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

__attribute__((section("tc"), used))
int mark_to_priority(struct __sk_buff *skb)
{
    if (skb->mark != 0)
        skb->priority = skb->mark;
    return TC_ACT_OK;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
