using System.Diagnostics;
using Perf.Batch;
using Perf.Host;

namespace Perf.LoadGen.Send;

/// <summary>
/// Reads the watched devices' classes (or, for a classless qdisc, its root) over rtnetlink: once before the first
/// datagram, once per interval while sending, and once after the qdisc drained. Each class's delta over the run is what
/// the report and the <c>--expect</c> verdict count.
/// </summary>
internal sealed class DeviceWatch
{
    private readonly WatchSettings _settings;
    private readonly string? _netns;
    private readonly Dictionary<string, Dictionary<TcHandle, TcStatistics>> _start = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private DeviceWatch(WatchSettings settings, string? netns)
    {
        _settings = settings;
        _netns = netns;
    }

    /// <summary>Per interval: when it ended (s since the start) and each device's classes then.</summary>
    internal List<(double EndS, Dictionary<string, Dictionary<TcHandle, TcStatistics>> Devices)> Samples { get; } = [];

    /// <summary>For each priority of the mix, the class that counted its probe (null: none did), by device.</summary>
    internal Dictionary<uint, (string Device, TcHandle Class)?> Classified { get; } = [];

    /// <summary>Each device's classes at the end (drained), by class.</summary>
    internal Dictionary<string, Dictionary<TcHandle, TcStatistics>> End { get; } = [];

    internal IReadOnlyDictionary<string, Dictionary<TcHandle, TcStatistics>> Start => _start;

    internal WatchSettings Settings => _settings;

    /// <summary>
    /// Checks every device before anything is sent and takes the first reading: a device that does not exist here,
    /// or has no qdisc to count with (noqueue), or an expected class it lacks, is a <see cref="FormatException"/>.
    /// </summary>
    internal static DeviceWatch Begin(WatchSettings settings, string? netns, string what = "--watch")
    {
        var watch = new DeviceWatch(settings, netns);
        foreach (string device in settings.Devices)
        {
            Dictionary<TcHandle, TcStatistics> classes;
            try
            {
                classes = watch.Read(device);
            }
            catch (PerfSocketException e) when (e.Errno == Errno.ENODEV)
            {
                throw new FormatException(what + " " + device + ": there is no such device " + (netns is null ? "in this network namespace" : "in namespace " + netns) + "; nothing was sent");
            }

            if (classes.Count == 0)
            {
                throw new FormatException(what + " " + device + ": it has no qdisc that counts (noqueue); nothing was sent");
            }

            watch._start[device] = classes;
        }

        foreach ((uint p, TcHandle c) in settings.Expect)
        {
            if (!watch._start.Values.Any(d => d.ContainsKey(c)))
            {
                throw new FormatException("--expect " + Report.FormatPriority(p) + "=" + c + ": no watched device has class " + c + "; nothing was sent");
            }
        }

        return watch;
    }

    /// <summary>
    /// Which class counts each priority: before the run, a probe of <see cref="ProbeCount"/> datagrams per priority, one
    /// priority at a time, from a sender of its own (a flow of its own at the sink), and the class that counted them.
    /// Class counters alone cannot tell two priorities apart that send as much as each other; a probe can.
    /// </summary>
    internal void Classify(SendSettings settings, IEnumerable<uint> priorities)
    {
        var options = new PacketSenderOptions
        {
            ConnectTo = settings.Destination,
            AddressFamily = settings.Destination.AddressFamily,
            PriorityStrategy = settings.Strategy,
            Segmentation = SegmentationMode.Off,
        };
        using PacketSender probe = settings.Namespace is { } ns ? NetworkNamespace.Run(ns, () => PacketSender.Create(options)) : PacketSender.Create(options);
        Span<byte> payload = stackalloc byte[64];
        ulong seq = 0;
        foreach (uint p in priorities)
        {
            // Other traffic keeps flowing: its rate in each class over a quiet spell is taken off what the probe finds.
            Dictionary<string, Dictionary<TcHandle, TcStatistics>> quiet = ReadAll();
            var spell = Stopwatch.StartNew();
            Thread.Sleep(QuietSpellMs);
            Dictionary<string, Dictionary<TcHandle, TcStatistics>> before = ReadAll();
            double spellS = spell.Elapsed.TotalSeconds;
            for (int i = 0; i < ProbeCount; i++)
            {
                PacketHeader.Write(payload, 0, seq++, p, (ulong)(DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100);
                while (!probe.TryEnqueue(payload, p))
                {
                    probe.Flush();
                }
            }

            probe.Flush();
            Classified[p] = CountedBy(quiet, before, spellS);
        }

        // The run is counted from here: the probes are not its datagrams.
        foreach (string device in _settings.Devices)
        {
            _start[device] = Read(device);
        }

        _clock.Restart();
    }

    /// <summary>Datagrams per priority in the classification probe.</summary>
    internal const int ProbeCount = 100;

    private const int QuietSpellMs = 100;

    // The class whose packets and drops grew most beyond its own background (its rate over the quiet spell), once that
    // excess reaches most of the probe, waiting up to 1 s for a shaped class to pass it. A GSO-less probe counts one per
    // datagram. Inner classes are left out: they count their children's packets too.
    private (string Device, TcHandle Class)? CountedBy(Dictionary<string, Dictionary<TcHandle, TcStatistics>> quiet,
        Dictionary<string, Dictionary<TcHandle, TcStatistics>> before, double spellS)
    {
        var since = Stopwatch.StartNew();
        while (true)
        {
            (string Device, TcHandle Class)? best = null;
            double bestExcess = 0;
            double elapsedS = since.Elapsed.TotalSeconds;
            foreach ((string device, Dictionary<TcHandle, TcStatistics> now) in ReadAll())
            {
                foreach ((TcHandle c, TcStatistics n) in now)
                {
                    TcStatistics? b = before[device].GetValueOrDefault(c), q = quiet[device].GetValueOrDefault(c);
                    if (n.IsClass && before[device].Values.Any(o => o.IsClass && o.Parent == c))
                    {
                        continue;
                    }

                    double background = spellS <= 0 ? 0 : Counted(b) - Counted(q) is var bg and > 0 ? bg / spellS * elapsedS : 0;
                    double excess = Counted(n) - Counted(b) - background;
                    if (excess > bestExcess)
                    {
                        (best, bestExcess) = ((device, c), excess);
                    }
                }
            }

            if (bestExcess >= ProbeCount * 0.8 || (since.Elapsed > TimeSpan.FromSeconds(1) && bestExcess >= ProbeCount / 2))
            {
                return best;
            }

            if (since.Elapsed > TimeSpan.FromSeconds(1))
            {
                return null;
            }

            Thread.Sleep(20);
        }
    }

    private static long Counted(TcStatistics? s) => s is null ? 0 : s.Packets + s.Drops;

    private Dictionary<string, Dictionary<TcHandle, TcStatistics>> ReadAll() => _settings.Devices.ToDictionary(d => d, Read);

    /// <summary>One reading of every device, at the end of an interval.</summary>
    internal void Sample()
    {
        Samples.Add((_clock.Elapsed.TotalSeconds, ReadAll()));
    }

    /// <summary>The last reading, once nothing is queued any more (at most 2 s after the send).</summary>
    internal void Finish()
    {
        var deadline = Stopwatch.StartNew();
        foreach (string device in _settings.Devices)
        {
            Dictionary<TcHandle, TcStatistics> classes = Read(device);
            while (classes.Values.Any(c => c.QueueLength > 0) && deadline.Elapsed < TimeSpan.FromSeconds(2))
            {
                Thread.Sleep(50);
                classes = Read(device);
            }

            End[device] = classes;
        }
    }

    // The device's classes by id; a qdisc without classes stands for itself, under its own handle.
    private Dictionary<TcHandle, TcStatistics> Read(string device) => new(QdiscStatistics.ReadClasses(device, _netns));
}
