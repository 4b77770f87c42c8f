using System.Runtime.CompilerServices;

namespace Perf.Batch;

// Enqueueing with a per-datagram launch time (PacketSenderOptions.TxTime).
public sealed partial class PacketSender
{
    // What the plain enqueues pass: no launch time. A TxTime sender refuses it, since the kernel would read a missing
    // time as 0 (etf drops such a datagram as late; fq sends it at once).
    private const long NoTxTime = long.MinValue;

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

    /// <summary>
    /// Queues a copy of <paramref name="payload"/> with its own <paramref name="priority"/>, to leave at
    /// <paramref name="txTimeNs"/> (ns on <see cref="PacketSenderOptions.TxTimeClock"/>), on a connected sender.
    /// </summary>
    /// <returns>False when the ring is full (back-pressure): flush, then try again. Nothing was queued.</returns>
    /// <exception cref="InvalidOperationException">The sender was created without <see cref="PacketSenderOptions.TxTime"/>.</exception>
    public bool TryEnqueueAt(ReadOnlySpan<byte> payload, uint priority, long txTimeNs)
    {
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        return TryEnqueueCore(payload, priority, 0, CheckTxTime(txTimeNs), in Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>As <see cref="TryEnqueueAt(ReadOnlySpan{byte}, uint, long)"/>, to <paramref name="destination"/> on an unconnected sender.</summary>
    public bool TryEnqueueAt(ReadOnlySpan<byte> payload, uint priority, long txTimeNs, in DatagramAddress destination)
    {
        ValidateDestination(destination);
        return TryEnqueueCore(payload, priority, 0, CheckTxTime(txTimeNs), in destination);
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/>, to leave at <paramref name="txTimeNs"/> (connected sender).</summary>
    public void CommitAt(int length, uint priority, long txTimeNs)
    {
        if (!_connected)
        {
            ThrowNeedsDestination();
        }

        CommitCore(length, priority, 0, CheckTxTime(txTimeNs), in Unsafe.NullRef<DatagramAddress>());
    }

    /// <summary>Queues the reserved slot's first <paramref name="length"/> bytes with <paramref name="priority"/>, to leave at <paramref name="txTimeNs"/>, to <paramref name="destination"/>.</summary>
    public void CommitAt(int length, uint priority, long txTimeNs, in DatagramAddress destination)
    {
        ValidateDestination(destination);
        CommitCore(length, priority, 0, CheckTxTime(txTimeNs), in destination);
    }

    private long CheckTxTime(long txTimeNs)
    {
        if (!_txTime || txTimeNs < 0)
        {
            ThrowBadTxTime(txTimeNs);
        }

        return txTimeNs;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowBadTxTime(long txTimeNs)
    {
        if (!_txTime)
        {
            ThrowTxTimeMismatch();
        }

        ThrowHelper.ThrowArgument("A launch time is ns on the sender's clock, never negative (got " + txTimeNs.ToString(System.Globalization.CultureInfo.InvariantCulture) + "). Nothing was queued.", nameof(txTimeNs));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowTxTimeMismatch() =>
        ThrowHelper.ThrowInvalidOperation(_txTime
            ? "This sender was created with TxTime: give each datagram its launch time (TryEnqueueAt, CommitAt). Nothing was queued."
            : "This sender was created without TxTime: its datagrams carry no launch time of their own. Nothing was queued.");
}
