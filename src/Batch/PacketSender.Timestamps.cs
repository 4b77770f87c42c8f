namespace Perf.Batch;

// Transmit timestamps (PacketSenderOptions.TxTimestamps): the drain, over the recorder the send loop fills.
public sealed partial class PacketSender
{
    /// <summary>
    /// Reads the kernel's pending timestamp reports, then copies out, in send order, the records of datagrams whose
    /// reports are in, up to <paramref name="destination"/>'s length (<see cref="PacketSenderOptions.TxTimestamps"/>).
    /// A record waits for its SND report; one still without it after <see cref="PacketSenderOptions.TxTimestampTimeout"/>
    /// comes out incomplete (<see cref="TxTimestamp.IsComplete"/> false), so a slow class holds later records back at
    /// most that long. Allocates nothing. Unlike the rest of the sender, it may be called from another thread while one
    /// sends (one drainer at a time): a reporter can collect while the sending thread runs. Records left at
    /// <see cref="Dispose"/> stay drainable.
    /// </summary>
    /// <returns>How many records were written; 0 when timestamps are off.</returns>
    public int DrainTxTimestamps(Span<TxTimestamp> destination) => _timestamps?.Drain(_socket, destination) ?? 0;

    /// <summary>Timestamp records not yet drained: datagrams sent whose reports may still be on their way.</summary>
    public int TxTimestampsPending => _timestamps?.Pending ?? 0;
}
