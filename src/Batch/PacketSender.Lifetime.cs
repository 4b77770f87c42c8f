using System.Runtime.CompilerServices;

namespace Perf.Batch;

// A sender's lifetime: one caller at a time (Idle/Busy), a Dispose from another thread while a flush waits, teardown.
public sealed partial class PacketSender
{
    private const int Idle = 0;
    private const int Busy = 1;
    private const int BusyDisposeRequested = 2;
    private const int Disposed = 3;

    private int _state;

    private void EnterBusy()
    {
        int prior = Interlocked.CompareExchange(ref _state, Busy, Idle);
        if (prior != Idle)
        {
            ThrowNotIdle(prior);
        }
    }

    private void ExitBusy()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Busy) != Busy)
        {
            // Dispose arrived during the flush: this flush was the last attempt.
            Teardown(finalFlush: false);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowNotIdle(int state)
    {
        if (state == Disposed)
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }

        ThrowHelper.ThrowInvalidOperation("A flush is already running on this sender; a sender is driven by one caller at a time.");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ThrowIfDisposed()
    {
        if (_state == Disposed)
        {
            ThrowHelper.ThrowObjectDisposed(this);
        }
    }

    /// <summary>
    /// Sends what is still queued (bounded by <see cref="PacketSenderOptions.WouldBlockTimeout"/>), records anything left as
    /// failed with ECANCELED, then closes the socket and frees the ring. Counters and failure records stay readable.
    /// </summary>
    public void Dispose()
    {
        while (true)
        {
            int state = Volatile.Read(ref _state);
            if (state == Idle)
            {
                if (Interlocked.CompareExchange(ref _state, Busy, Idle) == Idle)
                {
                    Teardown(finalFlush: true);
                    return;
                }
            }
            else if (state == Busy)
            {
                if (Interlocked.CompareExchange(ref _state, BusyDisposeRequested, Busy) == Busy)
                {
                    _waiter.Abort(); // an async flush waiting on the kernel sees the request at once
                    return; // the running flush tears down on its way out
                }
            }
            else
            {
                return;
            }
        }
    }

    private void Teardown(bool finalFlush)
    {
        try
        {
            if (finalFlush && _tail != _head)
            {
                FlushBlocking();
            }
        }
        finally
        {
            // The datagrams that never left end as failed, so every one is accounted for (a reordering plan may have
            // ended some past the head already).
            FailQueuedCore(Errno.ECANCELED);

            Volatile.Write(ref _state, Disposed);
            _path.Dispose();
            _backend.Dispose();
            DisposeTimestamps(); // before the socket: a drainer on another thread may be reading its error queue
            _socket.Dispose();
            _planner.Dispose();
            _ring.Dispose();
        }
    }

    /// <summary>
    /// Ends every queued datagram as failed with <paramref name="errno"/> (the forwarder on shutdown: it may not keep
    /// references to its receive buffers past its call).
    /// </summary>
    internal void FailQueued(int errno)
    {
        ThrowIfDisposed();
        FailQueuedCore(errno);
    }

    private void FailQueuedCore(int errno)
    {
        while (_head != _tail)
        {
            int index = (int)_head & _mask;
            if (_planner.Reordering && _planner.TakeDone(index))
            {
                _endedAhead--;
            }
            else
            {
                RecordFailure(_head, index, errno);
                ReleaseReference(index);
            }

            _head++;
        }
    }
}
