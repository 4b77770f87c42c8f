using System.Diagnostics;
using Perf.Batch;

namespace Perf.LoadGen;

/// <summary>When a sink stops: after a duration, a count, or a quiet spell.</summary>
internal sealed record SinkSettings
{
    public required DatagramAddress Listen { get; init; }
    public TimeSpan? Duration { get; init; }
    public long? Count { get; init; }
    public TimeSpan Idle { get; init; } = TimeSpan.FromSeconds(2);
    public string? Namespace { get; init; }
}

/// <summary>
/// Receives perfgen datagrams and checks each header against what the kernel reports: priority from SO_RCVPRIORITY,
/// per-flow sequence gaps (loss), reorders and duplicates.
/// </summary>
internal sealed class SinkJob : IDisposable
{
    private readonly SinkSettings _settings;
    private readonly PacketReceiver _rx;
    private readonly Dictionary<uint, long> _perPriority = [];
    private readonly Dictionary<uint, long> _perPriorityBytes = [];
    private readonly Dictionary<uint, Flow> _flows = [];
    private volatile bool _stop;
    private long _received;

    internal SinkJob(SinkSettings settings)
    {
        _settings = settings;
        var options = new PacketReceiverOptions { LocalAddress = settings.Listen, BatchSize = 256, MaxDatagramSize = 65535, ReceiveBufferSize = 64 << 20 };
        _rx = settings.Namespace is { } ns ? NetworkNamespace.Run(ns, () => PacketReceiver.Create(options)) : PacketReceiver.Create(options);
    }

    internal DatagramAddress LocalAddress => _rx.LocalAddress;

    internal long Received => Volatile.Read(ref _received);

    internal long Bytes { get; private set; }

    internal long Malformed { get; private set; }

    internal long Mismatched { get; private set; }

    internal long MissingPriority { get; private set; }

    internal long Reordered { get; private set; }

    internal long Duplicates { get; private set; }

    internal long Truncated { get; private set; }

    /// <summary>Sequence numbers never seen below each flow's highest: the loss a sender's own count confirms.</summary>
    internal long Lost => _flows.Values.Sum(f => f.Lost);

    internal IReadOnlyDictionary<uint, long> PerPriority => _perPriority;

    internal IReadOnlyDictionary<uint, long> PerPriorityBytes => _perPriorityBytes;

    internal IReadOnlyDictionary<uint, Flow> Flows => _flows;

    internal void Stop() => _stop = true;

    /// <summary>Receives until stopped, the duration or count is reached, or nothing arrives for the idle time after the first datagram.</summary>
    internal void Run()
    {
        long start = Stopwatch.GetTimestamp();
        long lastArrival = 0;
        long idleTicks = (long)(_settings.Idle.TotalSeconds * Stopwatch.Frequency);
        long deadline = _settings.Duration is { } d ? start + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        long count = _settings.Count ?? long.MaxValue;
        while (!_stop && Received < count)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= deadline || (lastArrival != 0 && now - lastArrival >= idleTicks))
            {
                break;
            }

            int n = _rx.Receive(50);
            if (n > 0)
            {
                lastArrival = Stopwatch.GetTimestamp();
            }

            for (int i = 0; i < n; i++)
            {
                Account(_rx[i]);
            }
        }
    }

    private void Account(ReceivedDatagram d)
    {
        Bytes += d.Payload.Length;
        if (d.Truncated)
        {
            Truncated++;
        }

        if (!PacketHeader.TryRead(d.Payload, out uint flowId, out ulong seq, out uint sentPriority))
        {
            Malformed++;
            Interlocked.Increment(ref _received);
            return;
        }

        uint priority = d.HasPriority ? d.Priority : sentPriority;
        if (!d.HasPriority)
        {
            MissingPriority++;
        }
        else if (d.Priority != sentPriority)
        {
            Mismatched++;
        }

        _perPriority[priority] = _perPriority.GetValueOrDefault(priority) + 1;
        _perPriorityBytes[priority] = _perPriorityBytes.GetValueOrDefault(priority) + d.Payload.Length;
        if (!_flows.TryGetValue(flowId, out Flow? flow))
        {
            flow = new Flow();
            _flows[flowId] = flow;
        }

        switch (flow.See(seq))
        {
            case Flow.Outcome.Duplicate: Duplicates++; break;
            case Flow.Outcome.Reordered: Reordered++; break;
        }

        Interlocked.Increment(ref _received);
    }

    public void Dispose() => _rx.Dispose();

    /// <summary>Sequence bookkeeping for one flow: a growable bitmap of sequences seen.</summary>
    internal sealed class Flow
    {
        private ulong[] _seen = new ulong[1024];

        internal enum Outcome
        {
            InOrder,
            Reordered,
            Duplicate,
        }

        internal long Unique { get; private set; }

        internal ulong Highest { get; private set; }

        internal long Lost => Unique == 0 ? 0 : (long)(Highest + 1) - Unique;

        internal Outcome See(ulong seq)
        {
            int word = (int)(seq >> 6);
            if (word >= _seen.Length)
            {
                Array.Resize(ref _seen, Math.Max(word + 1, _seen.Length * 2));
            }

            ulong bit = 1UL << (int)(seq & 63);
            if ((_seen[word] & bit) != 0)
            {
                return Outcome.Duplicate;
            }

            _seen[word] |= bit;
            bool first = Unique == 0;
            Unique++;
            if (first || seq > Highest)
            {
                Highest = seq;
                return Outcome.InOrder;
            }

            return Outcome.Reordered;
        }
    }
}
