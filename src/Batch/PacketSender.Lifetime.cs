namespace Perf.Batch;

// A sender's lifetime: its gate (one caller at a time, a Dispose from any thread at any moment) and its teardown.
public sealed partial class PacketSender
{
    /// <summary>
    /// Sends what is still queued (bounded by <see cref="PacketSenderOptions.WouldBlockTimeout"/>), records anything left as
    /// failed with ECANCELED, then closes the socket and frees the ring. Counters and failure records stay readable.
    /// Safe from any thread at any moment: where a call is running (or a reserved slot is out on another thread), that
    /// call, or the next one, tears down instead, and a waiting flush stops waiting.
    /// </summary>
    public void Dispose()
    {
        if (_gate.Dispose())
        {
            _waiter.Abort(); // an async flush waiting on the kernel sees the request at once
        }
    }

    /// <summary>Called by the gate exactly once, with no call running.</summary>
    void IGateOwner.Teardown(bool finalSend)
    {
        try
        {
            if (finalSend && !_queue.IsEmpty)
            {
                FlushBlocking();
            }
        }
        finally
        {
            // The datagrams that never left end as failed, so every one is accounted for (a reordering plan may have
            // ended some past the head already).
            _loop.FailQueued(Errno.ECANCELED);
            _loop.Dispose();
            _timestamps?.Dispose(); // before the socket: a drainer on another thread may be reading its error queue
            _socket.Dispose();
            _ring.Dispose();
        }
    }

    /// <summary>
    /// Ends every queued datagram as failed with <paramref name="errno"/> (the forwarder on shutdown: it may not keep
    /// references to its receive buffers past its call).
    /// </summary>
    internal void FailQueued(int errno)
    {
        _gate.Enter();
        try
        {
            _loop.FailQueued(errno);
        }
        finally
        {
            _gate.Exit();
        }
    }
}
