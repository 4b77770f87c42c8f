using Perf.Batch;

namespace Perf.LoadGen.Send;

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
