using System.Globalization;
using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>
/// A taprio gate schedule for qdisc-test: one window per class, in class order, repeating from base-time 0 on
/// CLOCK_TAI; class N (priority N: taprio reads priority &amp; 15 through its map) is traffic class N-1 on queue N-1,
/// whose gate alone of the classes' is open in its window. Every other priority (the kernel's own ARP and neighbour
/// discovery) goes to one more traffic class whose gate never closes, so no class counts a datagram not its own.
/// Judges each datagram's SND timestamp against its class's window.
/// </summary>
internal sealed class GateSchedule : ISendWindow
{
    private readonly long[] _start;
    private readonly long[] _length;
    private readonly uint[] _priorities;
    private readonly long _taiMinusRealtime;

    /// <param name="priorities">The classes' priorities, in class order.</param>
    /// <param name="windowsNs">Each class's window, in class order.</param>
    /// <param name="toleranceNs">How far past its window a datagram may leave and count as inside.</param>
    internal GateSchedule(uint[] priorities, long[] windowsNs, long toleranceNs = 20_000)
    {
        ToleranceNs = toleranceNs;
        _priorities = priorities;
        _length = windowsNs;
        _start = new long[windowsNs.Length];
        for (int i = 1; i < windowsNs.Length; i++)
        {
            _start[i] = _start[i - 1] + windowsNs[i - 1];
        }

        CycleNs = _start[^1] + windowsNs[^1];
        _taiMinusRealtime = SendWindows.TaiMinusRealtimeNs();
    }

    internal long CycleNs { get; }

    /// <summary>How far past the end of its window (ns) a datagram may leave and still count as inside: the SND stamp is taken in the driver a moment after the qdisc let it go.</summary>
    public long ToleranceNs { get; }

    /// <summary>Transmit queues the device needs: one per class, and one for everything else.</summary>
    internal int Queues => _length.Length + 1;

    /// <summary>The taprio arguments after "taprio": traffic classes, the priority map, one queue each, the gates, the clock.</summary>
    internal string TcArguments()
    {
        int n = _length.Length;
        var map = new int[16];
        for (int p = 0; p < 16; p++)
        {
            map[p] = p >= 1 && p <= n ? p - 1 : n;
        }

        string queues = string.Join(' ', Enumerable.Range(0, n + 1).Select(q => "1@" + q.ToString(CultureInfo.InvariantCulture)));
        string entries = string.Join(' ', Enumerable.Range(0, n).Select(i => "sched-entry S " + ((1 << i) | (1 << n)).ToString("x2", CultureInfo.InvariantCulture) + " " + _length[i].ToString(CultureInfo.InvariantCulture)));
        return "num_tc " + (n + 1) + " map " + string.Join(' ', map) + " queues " + queues + " base-time 0 " + entries + " clockid CLOCK_TAI";
    }

    /// <summary>Where class <paramref name="index"/>'s window lies in the cycle, in µs: [start, end).</summary>
    internal (long Start, long End) WindowUs(int index) => (_start[index] / 1000, (_start[index] + _length[index]) / 1000);

    /// <summary>How many ns after its window closed the datagram left (0 inside it); its priority picks the window.</summary>
    public long Outside(in TxTimestamp t)
    {
        int i = Array.IndexOf(_priorities, t.Priority);
        if (i < 0 || !t.IsComplete)
        {
            return 0;
        }

        long phase = (((t.SentNs + _taiMinusRealtime) % CycleNs) + CycleNs) % CycleNs;
        long after = phase - _start[i];
        if (after < 0)
        {
            after += CycleNs; // before its window in this cycle: it is late from the last one
        }

        return after < _length[i] ? 0 : after - _length[i];
    }
}
