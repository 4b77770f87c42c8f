using System.Globalization;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

// What a DatagramInfo may carry on this sender: a traffic class (PerPacketTrafficClass) and a launch time (TxTime).
public sealed partial class PacketSender
{
    /// <summary>Whether each datagram carries its own traffic class (<see cref="PacketSenderOptions.PerPacketTrafficClass"/>).</summary>
    public bool PerPacketTrafficClass => _trafficClass;

    /// <summary>Whether each datagram carries its own launch time (<see cref="PacketSenderOptions.TxTime"/>).</summary>
    public bool PerPacketTxTime => _txTime;

    /// <summary>Now on <paramref name="clock"/>, in ns: what launch times are counted from.</summary>
    public static unsafe long TxTimeNow(TxTimeClock clock = TxTimeClock.Tai)
    {
        Interop.TimeSpec now;
        if (Interop.Sys.ClockGetTime((int)clock, &now) != 0)
        {
            ThrowHelper.ThrowSocket("clock_gettime(" + clock.ToString() + ")", System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
        }

        return (now.Sec * 1_000_000_000L) + now.NSec;
    }

    // A TxTime sender refuses a datagram without a time, since the kernel would read a missing time as 0 (etf drops such
    // a datagram as late; fq sends it at once).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadInfo(in DatagramInfo info)
    {
        string problem;
        if (info.TrafficClass != 0 && !_trafficClass)
        {
            problem = "this sender was created without PerPacketTrafficClass: its datagrams carry no traffic class of their own";
        }
        else if (info.TxTimeNs < 0)
        {
            problem = "a launch time is ns on the sender's clock, never negative (got " + info.TxTimeNs.ToString(CultureInfo.InvariantCulture) + ")";
        }
        else if (_txTime)
        {
            problem = "this sender was created with TxTime: give each datagram its launch time (DatagramInfo.TxTimeNs)";
        }
        else
        {
            problem = "this sender was created without TxTime: its datagrams carry no launch time of their own";
        }

        ThrowHelper.ThrowArgument("DatagramInfo " + info.ToString() + ": " + problem + ". Nothing was queued.", nameof(info));
    }
}
