using System.Diagnostics;
using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Sink;

/// <summary>
/// Receives perfgen datagrams and checks each header against what the kernel reports: the priority by the strongest
/// means the kernel offers (<see cref="SinkVerify"/>), per-flow sequence gaps (loss), reorders and duplicates.
/// </summary>
internal sealed partial class SinkJob : IDisposable
{
    private readonly SinkSettings _settings;
    private readonly PacketReceiver _rx;
    private readonly Dictionary<uint, PriorityStats> _perPriority = [];
    // A flow is one sender thread of one sender: its header's flow id from its source address, so several perfgen
    // processes (hosts) into one sink, each numbering its threads from 0, stay apart.
    private readonly Dictionary<(DatagramAddress Source, uint Flow), Flow> _flows = [];
    private readonly List<IntervalSample> _intervals = [];
    private long _runStart;
    private long _intervalStart;
    private long _lostAtIntervalStart;
    private volatile bool _stop;
    private long _received;

    private bool _echoAttachedHere;

    /// <exception cref="FormatException">The verification asked for cannot work here; the message says why.</exception>
    internal SinkJob(SinkSettings settings)
    {
        _settings = settings;
        var options = new PacketReceiverOptions
        {
            LocalAddress = settings.Listen,
            BatchSize = 256,
            MaxDatagramSize = 65535,
            ReceiveBufferSize = 64 << 20,
            ReceivePriority = settings.Verify is SinkVerify.Auto or SinkVerify.Priority,
            ReceiveMark = settings.Verify is SinkVerify.Mark or SinkVerify.Echo,
            Gro = settings.Gro,
        };
        _rx = Receivers.Open(options, markIfNoPriority: settings.Verify == SinkVerify.Auto, settings.Namespace);
        try
        {
            VerifiedBy = Resolve(settings);
        }
        catch
        {
            _rx.Dispose();
            throw;
        }
    }

    /// <summary>How priorities are being verified (never Auto).</summary>
    internal SinkVerify VerifiedBy { get; }

    /// <summary>Says how priorities were verified, for the report.</summary>
    internal string VerifiedByText => VerifiedBy switch
    {
        SinkVerify.Priority => "SO_RCVPRIORITY",
        SinkVerify.Mark => "the sender's mark (SO_RCVMARK)",
        SinkVerify.Echo => "priority_to_mark echo on lo (SO_RCVMARK)",
        _ => "priorities not verified on this kernel",
    };

    private SinkVerify Resolve(SinkSettings settings)
    {
        const string NoRcvPriority = "this kernel has no SO_RCVPRIORITY (Linux 6.14+)";
        switch (settings.Verify)
        {
            case SinkVerify.Priority when !_rx.ReportsPriority:
                throw new FormatException("--verify priority: " + NoRcvPriority + "; use --verify mark (a mark-bpf sender), echo (root) or none");
            case SinkVerify.Mark or SinkVerify.Echo when !_rx.ReportsMark:
                throw new FormatException("--verify " + (settings.Verify == SinkVerify.Mark ? "mark" : "echo") + ": this kernel has no SO_RCVMARK (Linux 5.19+); use --verify none");
            case SinkVerify.Priority or SinkVerify.Mark or SinkVerify.None:
                return settings.Verify;
            case SinkVerify.Echo:
                string? why = EchoUnavailable(settings);
                if (why is not null)
                {
                    throw new FormatException("--verify echo: " + why);
                }

                AttachEcho(settings);
                return SinkVerify.Echo;
            default:
                if (_rx.ReportsPriority)
                {
                    return SinkVerify.Priority;
                }

                if (_rx.ReportsMark && EchoUnavailable(settings) is null)
                {
                    try
                    {
                        AttachEcho(settings);
                        return SinkVerify.Echo;
                    }
                    catch (PerfSocketException)
                    {
                        return SinkVerify.None; // said in the report: "priorities not verified on this kernel"
                    }
                }

                return SinkVerify.None;
        }
    }

    // The echo reads skb->priority at lo's ingress: only loopback keeps it end to end (a veth resets it to 0).
    private static string? EchoUnavailable(SinkSettings settings) =>
        !System.Net.IPAddress.IsLoopback(settings.Listen.ToIPAddress()) ? "only loopback keeps the priority to the receiver; listen on 127.0.0.1 or ::1"
        : !Environment.IsPrivilegedProcess ? "attaching the priority_to_mark echo on lo needs root"
        : null;

    private void AttachEcho(SinkSettings settings)
    {
        if (!MarkClassifier.IsPriorityEchoAttached("lo", settings.Namespace))
        {
            MarkClassifier.AttachPriorityEcho("lo", settings.Namespace);
            _echoAttachedHere = true;
        }
    }

    internal DatagramAddress LocalAddress => _rx.LocalAddress;

    /// <summary>Whether the receiver takes coalesced buffers (UDP GRO asked for and taken by the kernel).</summary>
    internal bool Gro => _rx.Gro;

    internal long CoalescedBuffers => _rx.CoalescedBuffers;

    internal long Received => Volatile.Read(ref _received);

    internal long Bytes { get; private set; }

    internal long Malformed { get; private set; }

    internal long Mismatched { get; private set; }

    internal long MissingPriority { get; private set; }

    /// <summary>Datagrams that arrived below their flow's highest sequence: grouping by priority does this, and is no failure.</summary>
    internal long Reordered { get; private set; }

    /// <summary>Of <see cref="Reordered"/>, those below the highest of their own flow and priority: a sender error.</summary>
    internal long ReorderedWithinPriority { get; private set; }

    internal long Duplicates { get; private set; }

    internal long Truncated { get; private set; }

    /// <summary>Sequence numbers never seen below each flow's highest: the loss a sender's own count confirms.</summary>
    internal long Lost => _flows.Values.Sum(f => f.Lost);

    // Copies, safe while the sink thread receives: a new priority is added under the lock; counts are 64-bit fields.
    internal IReadOnlyDictionary<uint, long> PerPriority
    {
        get
        {
            lock (_perPriority)
            {
                return _perPriority.ToDictionary(kv => kv.Key, kv => kv.Value.Packets);
            }
        }
    }

    internal IReadOnlyDictionary<uint, long> PerPriorityBytes
    {
        get
        {
            lock (_perPriority)
            {
                return _perPriority.ToDictionary(kv => kv.Key, kv => kv.Value.Bytes);
            }
        }
    }

    /// <summary>One-way latency per priority (send time in each header against arrival, CLOCK_MONOTONIC: one host).</summary>
    internal LatencyHistogram Latency(uint priority) => _perPriority.TryGetValue(priority, out PriorityStats? p) ? p.Latency : new LatencyHistogram();

    internal IReadOnlyList<IntervalSample> Intervals => _intervals;

    /// <summary>Datagrams lost (sequence gaps) in the flows with header flow id <paramref name="flowId"/>, from any source.</summary>
    internal long LostInFlow(uint flowId) => _flows.Where(kv => kv.Key.Flow == flowId).Sum(kv => kv.Value.Lost);

    internal void Stop() => _stop = true;

    /// <summary>Receives until stopped, the duration or count is reached, or nothing arrives for the idle time after the first datagram.</summary>
    internal void Run()
    {
        long start = Stopwatch.GetTimestamp();
        _runStart = start;
        _intervalStart = start;
        long intervalTicks = (long)(_settings.Interval.TotalSeconds * Stopwatch.Frequency);
        long nextInterval = intervalTicks > 0 ? start + intervalTicks : long.MaxValue;
        long lastArrival = 0;
        long idleTicks = (long)(_settings.Idle.TotalSeconds * Stopwatch.Frequency);
        long deadline = _settings.Duration is { } d ? start + (long)(d.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        long count = _settings.Count ?? long.MaxValue;
        while (!_stop && Received < count)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= nextInterval)
            {
                CloseInterval(now);
                nextInterval += intervalTicks;
            }

            if (now >= deadline || (lastArrival != 0 && now - lastArrival >= idleTicks))
            {
                break;
            }

            int n = _rx.Receive(50);
            if (n > 0)
            {
                // One clock read per batch: every datagram in it had arrived by now. Stopwatch ticks are CLOCK_MONOTONIC ns.
                lastArrival = Stopwatch.GetTimestamp();
            }

            for (int i = 0; i < n; i++)
            {
                Account(_rx[i], lastArrival);
            }
        }

        if (intervalTicks > 0)
        {
            CloseInterval(Stopwatch.GetTimestamp());
        }
    }

    // An interval's sample: per priority its packets, bytes and latency histogram; the loss that appeared in it.
    private void CloseInterval(long now)
    {
        var perPriority = new List<PrioritySample>();
        foreach ((uint priority, PriorityStats p) in _perPriority.OrderBy(kv => kv.Key))
        {
            LatencyHistogram h = p.IntervalLatency;
            perPriority.Add(new PrioritySample(priority, p.Packets - p.IntervalPackets, p.Bytes - p.IntervalBytes, h.Count > 0 ? LatencySummary.Of(h) : null));
            p.IntervalPackets = p.Packets;
            p.IntervalBytes = p.Bytes;
            h.Clear();
        }

        long lost = Lost;
        _intervals.Add(new IntervalSample(
            (_intervalStart - _runStart) / (double)Stopwatch.Frequency, (now - _runStart) / (double)Stopwatch.Frequency, perPriority, lost - _lostAtIntervalStart));
        _lostAtIntervalStart = lost;
        _intervalStart = now;
    }

    private void Account(ReceivedDatagram d, long arrivalNs)
    {
        Bytes += d.Payload.Length;
        if (d.Truncated)
        {
            Truncated++;
        }

        if (!PacketHeader.TryRead(d.Payload, out uint flowId, out ulong seq, out uint sentPriority, out ulong sentNs))
        {
            Malformed++;
            Interlocked.Increment(ref _received);
            return;
        }

        uint priority = Verify(d, sentPriority);
        if (!_perPriority.TryGetValue(priority, out PriorityStats? stats))
        {
            stats = new PriorityStats();
            lock (_perPriority)
            {
                _perPriority[priority] = stats;
            }
        }

        stats.Packets++;
        stats.Bytes += d.Payload.Length;
        long micros = ((long)((ulong)arrivalNs - sentNs)) / 1000;
        stats.Latency.Record(micros);
        stats.IntervalLatency.Record(micros);
        if (!_flows.TryGetValue((d.Source, flowId), out Flow? flow))
        {
            flow = new Flow();
            _flows[(d.Source, flowId)] = flow;
        }

        // The sender keeps order within the priority it was given.
        switch (flow.See(seq, sentPriority))
        {
            case Flow.Outcome.Duplicate: Duplicates++; break;
            case Flow.Outcome.ReorderedAcrossPriorities: Reordered++; break;
            case Flow.Outcome.ReorderedWithinPriority: Reordered++; ReorderedWithinPriority++; break;
        }

        Interlocked.Increment(ref _received);
    }

    // The priority the datagram arrived with, as far as the kernel tells (else the one its header names); counts a
    // mismatch or a missing report.
    private uint Verify(ReceivedDatagram d, uint sentPriority)
    {
        if (VerifiedBy == SinkVerify.None)
        {
            return sentPriority;
        }

        if (!(VerifiedBy == SinkVerify.Priority ? d.HasPriority : d.HasMark))
        {
            MissingPriority++;
            return sentPriority;
        }

        uint priority = VerifiedBy == SinkVerify.Priority ? d.Priority : d.Mark;
        if (priority != sentPriority)
        {
            Mismatched++;
        }

        return priority;
    }

    public void Dispose()
    {
        _rx.Dispose();
        if (_echoAttachedHere)
        {
            _echoAttachedHere = false;
            MarkClassifier.DetachPriorityEcho("lo", _settings.Namespace);
        }
    }

    /// <summary>One priority's counters and latency, total and for the current interval.</summary>
    private sealed class PriorityStats
    {
        internal long Packets;
        internal long Bytes;
        internal long IntervalPackets;
        internal long IntervalBytes;
        internal readonly LatencyHistogram Latency = new();
        internal readonly LatencyHistogram IntervalLatency = new();
    }
}
