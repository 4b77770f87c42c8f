// SPDX-License-Identifier: GPL-2.0
// priority_to_mark: a tc classifier for clsact ingress (direct-action). It copies skb->priority into skb->mark, so a
// SO_RCVMARK receiver (Linux 5.19+) sees each datagram's priority on a kernel without SO_RCVPRIORITY (before 6.14).
// Only meaningful on loopback: the priority survives lo end to end, while crossing a veth resets it to 0.
//
// Documentation: MarkClassifier loads the same four instructions in-process (ClassifierProgram.PriorityToMark), with no
// compiler; a test checks that `clang -O2 -target bpf -c priority_to_mark.bpf.c` gives exactly those.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

__attribute__((section("tc"), used))
int priority_to_mark(struct __sk_buff *skb)
{
    skb->mark = skb->priority;
    return TC_ACT_OK;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
