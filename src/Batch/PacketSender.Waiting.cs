namespace Perf.Batch;

// Waiting for the kernel to take more: the bound on a flush's wait, and the wait itself.
public sealed partial class PacketSender
{
    // Longest single wait, so a Dispose from another thread or a cancellation is seen promptly.
    private const int WaitSliceMs = 100;

    /// <summary>True while the wait bound allows another wait; progress since the last check restarts the bound.</summary>
    /// <remarks>
    /// The synchronous wait is cut into slices so a Dispose from another thread is seen promptly; an async wait is not,
    /// since Dispose and cancellation end it at once.
    /// </remarks>
    private bool KeepWaiting(ref long progressHead, ref long deadline, out int waitMs, bool sliced = true)
    {
        long now = Environment.TickCount64;
        if (_queue.Head != progressHead)
        {
            progressHead = _queue.Head;
            deadline = now + _wouldBlockTimeoutMs;
        }

        long remaining = deadline - now;
        waitMs = (int)Math.Min(remaining, sliced ? WaitSliceMs : int.MaxValue);
        return remaining > 0 && !_gate.DisposeRequested;
    }

    /// <summary>Blocks the calling thread until the kernel may take more (the synchronous <see cref="Flush"/>).</summary>
    private static void WaitBlocking(SafeFdHandle socket, int wouldBlockErrno, int timeoutMs)
    {
        // ENOBUFS comes from a qdisc or device queue, not the send buffer, so POLLOUT would return at once: back off instead.
        if (wouldBlockErrno == Errno.ENOBUFS)
        {
            Thread.Sleep(1);
        }
        else
        {
            UdpSocket.Poll(socket, Interop.POLLOUT, timeoutMs);
        }
    }

    /// <summary>The same wait for <see cref="FlushAsync"/>, holding no thread (<see cref="ReadinessWaiter"/>).</summary>
    private ValueTask<bool> WaitAsync(SafeFdHandle socket, int wouldBlockErrno, int timeoutMs, CancellationToken cancellationToken) =>
        wouldBlockErrno == Errno.ENOBUFS
            ? _waiter.DelayAsync(1, cancellationToken)
            : _waiter.WaitAsync(socket, write: true, timeoutMs, cancellationToken);
}
