using Perf.Batch;

namespace Perf.LoadGen;

/// <summary>A window in time each datagram's SND timestamp is judged against: taprio's gates, etf's launch times.</summary>
internal interface ISendWindow
{
    /// <summary>How far outside the window a datagram may leave (ns) and count as inside: the SND stamp is taken in the driver a moment after the qdisc let it go.</summary>
    long ToleranceNs { get; }

    /// <summary>How far (ns) outside its window the datagram left; 0 inside, or without an SND timestamp.</summary>
    long Outside(in TxTimestamp t);
}

/// <summary>
/// etf's promise for each datagram: it leaves within [launch time - delta, launch time], on CLOCK_TAI. etf holds it
/// until its time less the delta and drops it (reported apart) once the time has passed.
/// </summary>
internal sealed class LaunchWindow(long deltaNs, long toleranceNs) : ISendWindow
{
    private readonly long _taiMinusRealtime = SendWindows.TaiMinusRealtimeNs();

    public long ToleranceNs { get; } = toleranceNs;

    public long Outside(in TxTimestamp t)
    {
        if (!t.IsComplete || t.TxTimeNs == 0)
        {
            return 0;
        }

        long sent = t.SentNs + _taiMinusRealtime;
        return sent > t.TxTimeNs ? sent - t.TxTimeNs : Math.Max(0, t.TxTimeNs - deltaNs - sent);
    }
}

internal static class SendWindows
{
    /// <summary>
    /// CLOCK_TAI - CLOCK_REALTIME: the SND stamps are CLOCK_REALTIME, schedules and launch times CLOCK_TAI, and the two
    /// differ by whole seconds (the kernel's TAI offset, 0 unless NTP set it, 37 s today). Two reads are apart by up to
    /// 0.2 ms under the lab's emulated CPU (and once by enough to shift every datagram out of its window), so the
    /// difference is rounded to the second.
    /// </summary>
    internal static long TaiMinusRealtimeNs()
    {
        long tai = PacketSender.TxTimeNow(TxTimeClock.Tai);
        long realtime = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        return (long)Math.Round((tai - realtime) / 1e9) * 1_000_000_000L;
    }
}
