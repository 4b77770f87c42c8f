using Perf.Batch;

namespace Perf.LoadGen.Send;

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
