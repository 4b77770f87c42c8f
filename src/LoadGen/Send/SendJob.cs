using System.Diagnostics;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Send;

/// <summary>One sender and ring per thread; a token bucket released in batches; counts per priority.</summary>
internal sealed class SendJob
{
    private readonly SendSettings _settings;
    private readonly FlowState[] _flows;
    private readonly PacketSender[] _senders; // the flows' own, for the timestamp drains
    private readonly uint[][] _schedules; // per thread
    private readonly Rate[] _rates;       // per thread
    private readonly uint[] _distinct;
    private volatile bool _stop;

    internal SendJob(SendSettings settings)
    {
        _settings = settings;
        int threads = settings.PerFlow?.Count ?? settings.Threads;
        _schedules = new uint[threads][];
        _rates = new Rate[threads];
        for (int t = 0; t < threads; t++)
        {
            // A shared rate is split evenly across the threads; a per-flow rate is that flow's own.
            _schedules[t] = BuildSchedule(settings.PerFlow?[t].Priorities ?? settings.Priorities);
            _rates[t] = settings.PerFlow?[t].Rate ?? (settings.Rate.IsUnlimited ? Rate.Unlimited : settings.Rate with { Value = settings.Rate.Value / threads });
        }

        IEnumerable<WeightedPriority> all = settings.PerFlow?.SelectMany(f => f.Priorities) ?? settings.Priorities;
        _distinct = [.. all.Select(p => p.Priority).Distinct().Order()];
        _flows = new FlowState[threads];
        _senders = new PacketSender[threads];
        Delays = settings.TxTimestamps ? new TxDelayCollector(_distinct) : null;
    }

    /// <summary>The qdisc delays (--tx-timestamps), drained by <see cref="Run"/>'s thread; null without.</summary>
    internal TxDelayCollector? Delays { get; }

    internal IReadOnlyList<uint> DistinctPriorities => _distinct;

    /// <summary>Datagrams and bytes the kernel took of <paramref name="priority"/>, over every flow.</summary>
    internal (long Packets, long Bytes) SentOf(uint priority)
    {
        long packets = 0, bytes = 0;
        foreach (FlowState f in Flows)
        {
            (long a, long b) = f.Sent(priority);
            packets += a;
            bytes += b;
        }

        return (packets, bytes);
    }

    internal void Stop() => _stop = true;

    /// <summary>Creates every sender up front so setup errors surface before anything is sent.</summary>
    internal void Prepare()
    {
        bool classifier = _settings.Strategy == PriorityStrategy.MarkAndBpf || (_settings.Strategy == PriorityStrategy.Auto && ClassifierOnRoute());
        for (int t = 0; t < _flows.Length; t++)
        {
            var options = new PacketSenderOptions
            {
                AddressFamily = _settings.Destination.AddressFamily,
                ConnectTo = _settings.Connect ? _settings.Destination : default,
                LocalAddress = _settings.Bind,
                BatchSize = _settings.Batch,
                RingSize = RingSize(_settings),
                MaxDatagramSize = _settings.MaxSize,
                FailureLogCapacity = Math.Max(4096, RingSize(_settings)), // a whole ring can fail in one flush
                Backend = _settings.Backend,
                PriorityStrategy = _settings.Strategy,
                ClassifierAttached = classifier,
                Segmentation = _settings.Segmentation,
                StrictPriorityOrder = _settings.StrictOrder,
                ReportQdiscDrops = _settings.ReportQdiscDrops,
                SendBufferSize = _settings.SendBufferSize,
                TxTimestamps = _settings.TxTimestamps,
                TxTime = _settings.TxTimeLeadNs > 0,
                TxTimestampCapacity = TxDelayCollector.Capacity,
            };
            PacketSender sender = _settings.Namespace is { } ns
                ? NetworkNamespace.Run(ns, () => PacketSender.Create(options))
                : PacketSender.Create(options);
            _flows[t] = new FlowState((uint)t, sender, _distinct);
            _senders[t] = sender;
        }
    }

    private const int PacketSenderOptionsMinRing = 256;

    // Auto on a kernel without the cmsg: the library looks for the classifier on a connected sender's route itself; an
    // unconnected one has no route until it sends, so perfgen looks on the route to --dest for it.
    private bool ClassifierOnRoute()
    {
        if (_settings.Connect || CapabilityProbe.Probe() is not { PerPacketPriority: false, PrivilegedPriorities: true })
        {
            return false;
        }

        try
        {
            return MarkClassifier.Check(_settings.Destination, out _, _settings.Namespace);
        }
        catch (PerfSocketException)
        {
            return false;
        }
    }

    // Four batches of datagrams, and room for a full GSO run of every distinct priority: a flush groups by priority, so
    // seven interleaved priorities of 64 B make runs of 64 (the library's default) from 448 queued datagrams. With
    // --strict-order only neighbours form runs: as many as --burst makes. Slots stay within 64 MiB.
    private static int RingSize(SendSettings s)
    {
        if (s.Ring > 0)
        {
            return s.Ring;
        }

        int run = s.Segmentation == SegmentationMode.Off ? 1 : Math.Clamp(Math.Min(Math.Min(CapabilityProbe.Probe().MaxSegments, new PacketSenderOptions().MaxSegments), SlotLayout.MaxUdpPayload / s.MaxSize), 1, 128);
        int keys = s.StrictOrder ? 1 : PrioritiesPerFlow(s);
        int perKey = s.StrictOrder ? Math.Min(s.Burst, run) : run;
        int wanted = NextPow2(Math.Max(s.Batch * 4, keys * perKey));
        int byMemory = 1 << System.Numerics.BitOperations.Log2((uint)Math.Max(1, (64L << 20) / (s.MaxSize + 320)));
        return Math.Max(Math.Max(PacketSenderOptionsMinRing, NextPow2(s.Batch)), Math.Min(wanted, Math.Min(byMemory, 65536)));
    }

    private static int PrioritiesPerFlow(SendSettings s)
    {
        var seen = new HashSet<uint>();
        foreach (FlowSpec f in s.PerFlow ?? [new FlowSpec(s.Priorities, s.Rate)])
        {
            foreach (WeightedPriority p in f.Priorities)
            {
                seen.Add(p.Priority);
            }
        }

        return Math.Max(1, seen.Count / Math.Max(1, s.PerFlow?.Count ?? 1));
    }

    internal FlowState[] Flows => _flows;

    internal string BackendName => _flows.Length > 0 ? _flows[0].Sender.Backend : "sendmmsg";

    internal PriorityCapabilities? Capabilities => _flows.Length > 0 ? _flows[0].Sender.Capabilities : null;

    /// <summary>Packets sent, and time elapsed, when the warm-up ended (0 without one).</summary>
    internal (long Packets, TimeSpan Elapsed) WarmupMark { get; private set; }

    /// <summary>Runs all threads to the end of the duration or count (plus the warm-up); returns the wall time.</summary>
    internal TimeSpan Run(Action<TimeSpan>? onInterval, TimeSpan interval)
    {
        bool marked = _settings.Warmup <= TimeSpan.Zero;
        var threads = new Thread[_flows.Length];
        long start = Stopwatch.GetTimestamp();
        for (int t = 0; t < threads.Length; t++)
        {
            FlowState flow = _flows[t];
            long quota = _settings.CountPerFlow ?? (_settings.Count is { } c ? (c / threads.Length) + (t < c % threads.Length ? 1 : 0) : long.MaxValue);
            threads[t] = new Thread(() => SendLoop(flow, quota, start)) { Name = "perfgen send " + t, IsBackground = true };
            threads[t].Start();
        }

        long nextTick = start + (long)(interval.TotalSeconds * Stopwatch.Frequency);
        while (threads.Any(th => th.IsAlive))
        {
            if (!marked && Stopwatch.GetElapsedTime(start) >= _settings.Warmup)
            {
                marked = true;
                WarmupMark = (_flows.Sum(f => f.Sender.Stats.Sent), Stopwatch.GetElapsedTime(start));
            }

            if (onInterval is not null && Stopwatch.GetTimestamp() >= nextTick)
            {
                onInterval(Stopwatch.GetElapsedTime(start));
                nextTick += (long)(interval.TotalSeconds * Stopwatch.Frequency);
            }

            // A thread can end between the check above and here (seen under QEMU in the kernel lab).
            threads.FirstOrDefault(th => th.IsAlive)?.Join(marked ? 20 : 1);
            Delays?.Drain(_senders); // often enough that the error queues never fill
        }

        foreach (Thread th in threads)
        {
            th.Join();
        }

        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        Delays?.Finish(_senders, TimeSpan.FromSeconds(6)); // what the qdisc still holds leaves, and its reports come

        foreach (FlowState f in _flows)
        {
            if (f.Error is not null)
            {
                throw new InvalidOperationException("sender thread " + f.Flow + " failed: " + f.Error.Message, f.Error);
            }
        }

        return elapsed;
    }

    internal void DisposeSenders()
    {
        foreach (FlowState f in _flows)
        {
            f?.Sender.Dispose();
            f?.DrainFailures();
        }
    }

    private void SendLoop(FlowState flow, long quota, long start)
    {
        try
        {
            SendLoopCore(flow, quota, start);
        }
        catch (Exception e)
        {
            flow.Error = e;
        }
    }

    // The hot loop: no allocation, no LINQ; counters are plain fields read by the reporting thread.
    private void SendLoopCore(FlowState flow, long quota, long start)
    {
        PacketSender tx = flow.Sender;
        DatagramAddress dest = _settings.Destination;
        bool connected = _settings.Connect;
        int minSize = _settings.MinSize;
        int ipOverhead = dest.AddressFamily == AddressFamily.InterNetworkV6 ? 48 : 28;
        double meanWireBits = (minSize + ((_settings.MaxSize - minSize) / 2.0) + ipOverhead) * 8.0;
        var bucket = new TokenBucket(_rates[flow.Flow], start, meanWireBits, ipOverhead, _settings.Batch);
        var runs = new RunSchedule(_schedules[flow.Flow], _settings.Burst, minSize, _settings.MaxSize, 0x9E3779B9u ^ (flow.Flow * 0x85EBCA6Bu) ^ 1);
        long deadline = _settings.Duration is { } d ? start + (long)((d + _settings.Warmup).TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        long warmupEnd = start + (Stopwatch.Frequency / 2);
        bool measuring = false;
        ulong seq = 0;
        while (!_stop && (long)seq < quota)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= deadline)
            {
                break;
            }

            if (!measuring && now >= warmupEnd)
            {
                measuring = true;
                flow.BeginAllocationWindow();
            }

            if (_settings.Delivered is { } delivered && (long)seq - delivered() > _settings.MaxInFlight)
            {
                tx.Flush(); // what is queued must reach the receiver before it can catch up
                Thread.Sleep(1);
                continue;
            }

            int n = bucket.Grant(now, (int)Math.Min(_settings.Batch, quota - (long)seq), tx);
            for (int i = 0; i < n; i++)
            {
                runs.Next(flow);
                Enqueue(flow, seq++, runs.Priority, runs.Size, connected, in dest, _settings.TxTimeLeadNs);
                flow.Count(runs.Counter, runs.Size);
                bucket.Spend(runs.Size);
            }

            // Per-priority failure counts come from the sender's bounded failure log: read it before it overflows.
            if (tx.FailureRecordCount > 0)
            {
                flow.DrainFailures();
            }
        }

        tx.Flush();
        flow.EndAllocationWindow(measuring);
        flow.DrainFailures();
    }

    // One datagram written in place: perfgen's header, then committed with its priority (and destination, and with a
    // lead its launch time: now on CLOCK_TAI plus the lead).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Enqueue(FlowState flow, ulong seq, uint priority, int size, bool connected, in DatagramAddress dest, long txTimeLead)
    {
        PacketSender tx = flow.Sender;
        Span<byte> slot;
        while (!tx.TryReserve(out slot))
        {
            tx.Flush();
        }

        PacketHeader.Write(slot, flow.Flow, seq, priority, PacketHeader.MonotonicNs());
        var info = new DatagramInfo(priority, TxTimeNs: txTimeLead > 0 ? PacketSender.TxTimeNow() + txTimeLead : 0);
        if (connected)
        {
            tx.Commit(size, in info);
        }
        else
        {
            tx.Commit(size, in info, in dest);
        }
    }

    /// <summary>Smooth weighted round-robin over the weights: an even interleaving, cycled per packet.</summary>
    internal static uint[] BuildSchedule(WeightedPriority[] priorities)
    {
        long total = priorities.Sum(p => (long)p.Weight);
        double scale = total > 10_000 ? 10_000.0 / total : 1;
        int[] weights = [.. priorities.Select(p => Math.Max(1, (int)Math.Round(p.Weight * scale)))];
        int length = weights.Sum();
        var schedule = new uint[length];
        var current = new long[weights.Length];
        for (int i = 0; i < length; i++)
        {
            int best = 0;
            for (int k = 0; k < weights.Length; k++)
            {
                current[k] += weights[k];
                if (current[k] > current[best])
                {
                    best = k;
                }
            }

            current[best] -= length;
            schedule[i] = priorities[best].Priority;
        }

        return schedule;
    }

    private static int NextPow2(int v) => (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)v);
}
