using System.Globalization;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

// Checking a datagram before any slot is written: its length, destination, and what its DatagramInfo may carry on this
// sender (a traffic class needs PerPacketTrafficClass, a launch time TxTime).
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

    /// <summary>Checks what describes a datagram against what the sender was created for, before any slot is written.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Validate(int length, in DatagramInfo info)
    {
        if ((uint)(length - 1) >= (uint)_maxPayload)
        {
            ThrowBadLength(length);
        }

        if ((info.TrafficClass != 0 && !_trafficClass) || _txTime != (info.TxTimeNs != 0) || info.TxTimeNs < 0)
        {
            ThrowBadInfo(in info);
        }
    }

    private void ValidateDestination(in DatagramAddress destination)
    {
        if (_connected)
        {
            ThrowHelper.ThrowArgument("This sender is connected to " + RemoteAddress.ToString() + "; per-datagram destinations are for unconnected senders. Nothing was queued.", nameof(destination));
        }

        if (destination.AddressFamily != _family)
        {
            ThrowWrongFamily(destination);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowWrongFamily(in DatagramAddress destination) =>
        ThrowHelper.ThrowArgument("Destination " + destination.ToString() + " is not " + _family.ToString() + ", the sender's family. Nothing was queued.", nameof(destination));

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadLength(int length)
    {
        if (length <= 0)
        {
            ThrowHelper.ThrowEmptyPayload();
        }

        ThrowHelper.ThrowPayloadTooLarge(length, _maxPayload);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNeedsDestination() =>
        ThrowHelper.ThrowInvalidOperation("This sender is not connected: give each datagram a destination, or set ConnectTo. Nothing was queued.");
}
