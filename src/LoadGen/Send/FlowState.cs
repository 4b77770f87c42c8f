using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>One sender thread's flow and counters. Written by its thread, read (racily, 64-bit) by the reporter.</summary>
internal sealed class FlowState
{
    private readonly uint[] _priorities;
    private readonly long[] _packets;
    private readonly long[] _bytes;
    private readonly long[] _failedPackets;
    private readonly long[] _failedBytes;
    private readonly FailedPacket[] _drain = new FailedPacket[256];
    private long _allocStart;

    internal FlowState(uint flow, PacketSender sender, uint[] priorities)
    {
        Flow = flow;
        Sender = sender;
        _priorities = priorities;
        _packets = new long[priorities.Length];
        _bytes = new long[priorities.Length];
        _failedPackets = new long[priorities.Length];
        _failedBytes = new long[priorities.Length];
    }

    internal uint Flow { get; }

    internal PacketSender Sender { get; }

    internal Exception? Error { get; set; }

    /// <summary>Bytes this thread allocated in steady state (after a 0.5 s warm-up).</summary>
    internal long AllocatedBytes { get; private set; }

    /// <summary>The counter <see cref="Count"/> takes for <paramref name="priority"/>: looked up once a run, not per datagram.</summary>
    internal int CounterOf(uint priority) =>
        IndexOf(priority) is int i and >= 0 ? i : throw new InvalidOperationException("priority " + priority + " is not in this flow's mix");

    internal void Count(int counter, int size)
    {
        _packets[counter]++;
        _bytes[counter] += size;
    }

    /// <summary>Packets and bytes enqueued for <paramref name="priority"/> that did not fail.</summary>
    internal (long Packets, long Bytes) Sent(uint priority)
    {
        int i = IndexOf(priority);
        return i < 0 ? (0, 0) : (_packets[i] - _failedPackets[i], _bytes[i] - _failedBytes[i]);
    }

    /// <summary>Datagrams of <paramref name="priority"/> that failed (drained so far).</summary>
    internal long Failed(uint priority) => IndexOf(priority) is int i and >= 0 ? _failedPackets[i] : 0;

    internal void BeginAllocationWindow() => _allocStart = GC.GetAllocatedBytesForCurrentThread();

    internal void EndAllocationWindow(bool measured) => AllocatedBytes = measured ? GC.GetAllocatedBytesForCurrentThread() - _allocStart : 0;

    internal void DrainFailures()
    {
        int n;
        while ((n = Sender.DrainFailures(_drain)) > 0)
        {
            for (int k = 0; k < n; k++)
            {
                int i = IndexOf(_drain[k].Priority);
                if (i >= 0)
                {
                    _failedPackets[i]++;
                    _failedBytes[i] += _drain[k].Length;
                }
            }
        }
    }

    private int IndexOf(uint priority)
    {
        // Few distinct priorities: a linear scan beats hashing and allocates nothing.
        uint[] p = _priorities;
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] == priority)
            {
                return i;
            }
        }

        return -1; // not one of this run's priorities: counted nowhere rather than under another priority
    }
}
