namespace Perf.LoadGen.QdiscTest;

/// <summary>One qdisc class's counters: packets and bytes sent, dropped, overlimits, packets queued.</summary>
internal readonly record struct ClassStats(long Packets, long Bytes, long Dropped, long Overlimits, long BacklogPackets);
