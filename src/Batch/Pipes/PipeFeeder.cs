using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>
/// Feeds a <see cref="PacketSender"/> from a <see cref="PipeReader"/> of <see cref="DatagramFrame"/>s: each frame is
/// copied into a slot with its own priority and destination, and the pipe is advanced past it once copied (the slot
/// then owns the bytes). A full ring awaits the sender's flush; an unread pipe pauses its writer at the pipe's
/// thresholds, so back-pressure runs from the kernel to the producer.
/// </summary>
/// <remarks>
/// A malformed frame (length 0 or above the sender's MaxDatagramSize, an unknown destination kind, a destination a
/// connected sender cannot take, or a frame cut off when the writer completes) ends the run: every good frame before
/// it is sent first, then the reader is completed with an <see cref="InvalidDataException"/> that names the frame's
/// byte offset in the stream, and that exception is thrown. Steady-state feeding allocates nothing.
/// </remarks>
public sealed class PipeFeeder
{
    private readonly PipeReader _reader;
    private readonly PacketSender _sender;
    private readonly bool _connected;

    /// <summary>Creates a feeder from <paramref name="reader"/> into <paramref name="sender"/>.</summary>
    public PipeFeeder(PipeReader reader, PacketSender sender)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(sender);
        _reader = reader;
        _sender = sender;
        _connected = !sender.RemoteAddress.IsEmpty;
    }

    /// <summary>Datagrams taken from the pipe and queued on the sender.</summary>
    public long Datagrams { get; private set; }

    /// <summary>Stream bytes consumed (frames and payloads).</summary>
    public long BytesConsumed { get; private set; }

    /// <summary>
    /// Runs until the writer completes (then flushes the sender and completes the reader) or a malformed frame stops it.
    /// </summary>
    /// <exception cref="InvalidDataException">A malformed frame; frames before it were sent.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask RunAsync(CancellationToken cancellationToken = default)
    {
        Exception? failure = null;
        try
        {
            while (true)
            {
                if (!_reader.TryRead(out ReadResult result))
                {
                    result = await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }

                ReadOnlySequence<byte> buffer = result.Buffer;
                while (true)
                {
                    FrameStatus status = TryTakeFrame(ref buffer, out string? problem);
                    if (status == FrameStatus.Taken)
                    {
                        continue;
                    }

                    if (status == FrameStatus.RingFull)
                    {
                        // Hand back what was consumed so far, then let the kernel drain the ring.
                        _reader.AdvanceTo(buffer.Start);
                        result = await FlushAndReadAsync(cancellationToken).ConfigureAwait(false);
                        buffer = result.Buffer;
                        continue;
                    }

                    ThrowIfBad(status, problem);
                    break; // NeedMore
                }

                if (result.IsCompleted && buffer.Length > 0)
                {
                    throw Malformed("the stream ended inside a frame (" + buffer.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) + " bytes left)");
                }

                _reader.AdvanceTo(buffer.Start, buffer.End);
                await _sender.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e)
        {
            failure = e;
            throw;
        }
        finally
        {
            await FinishAsync(failure).ConfigureAwait(false);
        }
    }

    private async ValueTask FinishAsync(Exception? failure)
    {
        if (failure is InvalidDataException or InvalidOperationException)
        {
            await _sender.FlushAsync(CancellationToken.None).ConfigureAwait(false); // the good frames before it still go
        }

        await _reader.CompleteAsync(failure).ConfigureAwait(false);
    }

    private async ValueTask<ReadResult> FlushAndReadAsync(CancellationToken cancellationToken)
    {
        await _sender.FlushAsync(cancellationToken).ConfigureAwait(false);
        return _reader.TryRead(out ReadResult result) ? result : await _reader.ReadAsync(cancellationToken).ConfigureAwait(false);
    }

    private void ThrowIfBad(FrameStatus status, string? problem)
    {
        if (status == FrameStatus.Malformed)
        {
            throw Malformed(problem!);
        }
    }

    private enum FrameStatus
    {
        Taken,
        NeedMore,
        RingFull,
        Malformed,
    }

    private FrameStatus TryTakeFrame(ref ReadOnlySequence<byte> buffer, out string? problem)
    {
        problem = null;
        Span<byte> header = stackalloc byte[DatagramFrame.HeaderSize + DatagramFrame.V6Size];
        if (!DatagramFrame.TryReadHeader(buffer, header))
        {
            return FrameStatus.NeedMore;
        }

        uint length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        uint priority = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        int destSize = DatagramFrame.DestinationSize(header[8]);
        if (length == 0 || length > (uint)_sender.MaxDatagramSize)
        {
            problem = "payload length " + length.ToString(System.Globalization.CultureInfo.InvariantCulture) + " is outside 1.." + _sender.MaxDatagramSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return FrameStatus.Malformed;
        }

        if (destSize < 0 || (destSize == 0) != _connected)
        {
            problem = destSize < 0 ? "unknown destination kind " + header[8].ToString(System.Globalization.CultureInfo.InvariantCulture)
                : _connected ? "a destination on a connected sender" : "no destination for an unconnected sender";
            return FrameStatus.Malformed;
        }

        long total = DatagramFrame.HeaderSize + destSize + length;
        if (buffer.Length < total)
        {
            return FrameStatus.NeedMore;
        }

        FrameStatus status = Enqueue(buffer, header, destSize, length, priority, out problem);
        if (status != FrameStatus.Taken)
        {
            return status;
        }

        buffer = buffer.Slice(total);
        BytesConsumed += total;
        Datagrams++;
        return FrameStatus.Taken;
    }

    // The frame's payload into a reserved slot, committed with its priority (and destination).
    private FrameStatus Enqueue(ReadOnlySequence<byte> buffer, Span<byte> header, int destSize, uint length, uint priority, out string? problem)
    {
        problem = null;
        if (!_sender.TryReserve(out Span<byte> slot))
        {
            return FrameStatus.RingFull;
        }

        buffer.Slice(DatagramFrame.HeaderSize + destSize, length).CopyTo(slot);
        // A priority the strategy cannot place (a full SocketPerPriority pool) is no exception: that datagram fails with
        // its errno in the sender's results, as EPERM does.
        if (destSize == 0)
        {
            _sender.Commit((int)length, priority);
            return FrameStatus.Taken;
        }

        buffer.Slice(DatagramFrame.HeaderSize, destSize).CopyTo(header[DatagramFrame.HeaderSize..]);
        DatagramAddress dest = DatagramFrame.ReadDestination(header.Slice(DatagramFrame.HeaderSize, destSize));
        if (dest.AddressFamily != _sender.LocalAddress.AddressFamily)
        {
            _sender.CancelReservation();
            problem = "destination " + dest.ToString() + " is not of the sender's address family";
            return FrameStatus.Malformed;
        }

        _sender.Commit((int)length, priority, in dest);
        return FrameStatus.Taken;
    }

    private InvalidDataException Malformed(string problem) =>
        new("Malformed frame at byte offset " + BytesConsumed.ToString(System.Globalization.CultureInfo.InvariantCulture) + " of the stream (after " +
            Datagrams.ToString(System.Globalization.CultureInfo.InvariantCulture) + " good frames): " + problem + ".");
}
