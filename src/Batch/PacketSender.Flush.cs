using System.Runtime.CompilerServices;

namespace Perf.Batch;

// The flush API: a blocking and an async flush over the send loop, each bounded by the wait policy (Waiting.cs).
public sealed partial class PacketSender
{
    /// <summary>
    /// Sends everything queued. When the kernel pushes back (EAGAIN, ENOBUFS) it waits for POLLOUT and retries, for at most
    /// <see cref="PacketSenderOptions.WouldBlockTimeout"/> without progress; what is still queued then stays queued.
    /// </summary>
    public FlushOutcome Flush()
    {
        _gate.Enter();
        try
        {
            return FlushBlocking();
        }
        finally
        {
            _gate.Exit(finalSend: false);
        }
    }

    private FlushOutcome FlushBlocking()
    {
        SendProgress total = default;
        long progressHead = _queue.Head;
        long deadline = Environment.TickCount64 + _wouldBlockTimeoutMs;
        while (true)
        {
            SendProgress p = _loop.SendQueued(fullBatchesOnly: false);
            total.Add(in p);
            if (p.WouldBlockErrno == 0 || !KeepWaiting(ref progressHead, ref deadline, out int waitMs))
            {
                break;
            }

            WaitBlocking(p.BlockedSocket ?? _socket, p.WouldBlockErrno, waitMs);
        }

        _loop.IdleWhenEmpty();
        return new FlushOutcome(total.Sent, total.Failed, PendingCount);
    }

    /// <summary>
    /// Sends everything queued; when the kernel pushes back, the task completes later and no thread waits meanwhile (the
    /// library's readiness thread watches the socket). Completes synchronously, without allocating, when nothing pushes back.
    /// </summary>
    public ValueTask<FlushOutcome> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<FlushOutcome>(cancellationToken);
        }

        _gate.Enter();
        SendProgress p;
        try
        {
            p = _loop.SendQueued(fullBatchesOnly: false);
        }
        catch
        {
            _gate.Exit(finalSend: false);
            throw;
        }

        if (p.WouldBlockErrno == 0)
        {
            _gate.Exit(finalSend: false);
            return new ValueTask<FlushOutcome>(new FlushOutcome(p.Sent, p.Failed, PendingCount));
        }

        return FlushSlowAsync(p, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushOutcome> FlushSlowAsync(SendProgress total, CancellationToken cancellationToken)
    {
        try
        {
            long progressHead = _queue.Head;
            long deadline = Environment.TickCount64 + _wouldBlockTimeoutMs;
            int wouldBlock = total.WouldBlockErrno;
            SafeFdHandle? blocked = total.BlockedSocket;
            while (KeepWaiting(ref progressHead, ref deadline, out int waitMs, sliced: false))
            {
                await WaitAsync(blocked ?? _socket, wouldBlock, waitMs, cancellationToken).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                SendProgress p = _loop.SendQueued(fullBatchesOnly: false);
                total.Add(in p);
                wouldBlock = p.WouldBlockErrno;
                blocked = p.BlockedSocket;
                if (wouldBlock == 0)
                {
                    break;
                }
            }

            return new FlushOutcome(total.Sent, total.Failed, PendingCount);
        }
        finally
        {
            _gate.Exit(finalSend: false);
        }
    }
}
