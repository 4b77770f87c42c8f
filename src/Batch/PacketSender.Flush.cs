using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Perf.Batch;

public sealed partial class PacketSender
{
    private const int Idle = 0;
    private const int Busy = 1;
    private const int BusyDisposeRequested = 2;
    private const int Disposed = 3;

    // Longest single wait, so a Dispose from another thread or a cancellation is seen promptly.
    private const int WaitSliceMs = 100;

    private readonly WritableWaiter _waiter;
    private int _state;

    /// <summary>
    /// Sends everything queued. When the kernel pushes back (EAGAIN, ENOBUFS) it waits for POLLOUT and retries, for at most
    /// <see cref="PacketSenderOptions.WouldBlockTimeout"/> without progress; what is still queued then stays queued.
    /// </summary>
    public FlushOutcome Flush()
    {
        EnterBusy();
        try
        {
            return FlushBlocking();
        }
        finally
        {
            ExitBusy();
        }
    }

    private FlushOutcome FlushBlocking()
    {
        Progress total = default;
        long progressHead = _head;
        long deadline = Environment.TickCount64 + _wouldBlockTimeoutMs;
        while (true)
        {
            Progress p = SendQueued(fullBatchesOnly: false);
            total.Add(p);
            if (p.WouldBlockErrno == 0 || !KeepWaiting(ref progressHead, ref deadline, out int waitMs))
            {
                break;
            }

            WritableWaiter.Wait(_socket, p.WouldBlockErrno, waitMs);
        }

        CloseIdlePrioritySockets();
        return new FlushOutcome(total.Sent, total.Failed, PendingCount);
    }

    /// <summary>
    /// Sends everything queued; when the kernel pushes back the wait runs off this thread and the returned task completes
    /// later. Completes synchronously, without allocating, when nothing pushes back.
    /// </summary>
    public ValueTask<FlushOutcome> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<FlushOutcome>(cancellationToken);
        }

        EnterBusy();
        Progress p;
        try
        {
            p = SendQueued(fullBatchesOnly: false);
        }
        catch
        {
            ExitBusy();
            throw;
        }

        if (p.WouldBlockErrno == 0)
        {
            ExitBusy();
            return new ValueTask<FlushOutcome>(new FlushOutcome(p.Sent, p.Failed, PendingCount));
        }

        return FlushSlowAsync(p, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FlushOutcome> FlushSlowAsync(Progress total, CancellationToken cancellationToken)
    {
        try
        {
            long progressHead = _head;
            long deadline = Environment.TickCount64 + _wouldBlockTimeoutMs;
            int wouldBlock = total.WouldBlockErrno;
            while (KeepWaiting(ref progressHead, ref deadline, out int waitMs))
            {
                await _waiter.WaitAsync(wouldBlock, waitMs).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                Progress p = SendQueued(fullBatchesOnly: false);
                total.Add(p);
                wouldBlock = p.WouldBlockErrno;
                if (wouldBlock == 0)
                {
                    break;
                }
            }

            return new FlushOutcome(total.Sent, total.Failed, PendingCount);
        }
        finally
        {
            ExitBusy();
        }
    }

    private void CloseIdlePrioritySockets()
    {
        // Only with an empty ring: no queued datagram can still need a socket that closes.
        if (_pool is not null && _tail == _head)
        {
            _pool.CloseIdle();
        }
    }

    private void SendFullBatches()
    {
        if (_state != Idle)
        {
            return; // inside a flush already (cannot happen single-threaded) or disposing
        }

        SendQueued(fullBatchesOnly: true);
    }

    /// <summary>Sends queued slots in batches until done or the kernel pushes back; never waits.</summary>
    private Progress SendQueued(bool fullBatchesOnly)
    {
        Progress progress = default;
        Span<int> results = _results;
        int capacity = _mask + 1;
        while (true)
        {
            long pending = _tail - _head;
            if (pending == 0 || (fullBatchesOnly && pending < _batch))
            {
                return progress;
            }

            // One call covers a run that is contiguous in the mmsghdr array: at most a batch, and never past the ring's end.
            int first = (int)_head & _mask;
            int count = (int)Math.Min(pending, Math.Min(_batch, capacity - first));
            SafeFdHandle socket = _socket;
            int runErrno = 0;
            if (_strategy is PriorityStrategy.SocketPerPriority or PriorityStrategy.SetsockoptPerRun)
            {
                socket = PrepareRun(first, ref count, out runErrno);
            }

            int done;
            int wouldBlockErrno = 0;
            if (runErrno != 0)
            {
                // The run's priority cannot be set (EPERM): each of its datagrams fails with that errno.
                results[..count].Fill(runErrno);
                done = count;
            }
            else
            {
                done = _backend.Send(socket, first, count, results, out wouldBlockErrno);
            }

            _sendCalls++;
            if (done == 0)
            {
                _wouldBlock++;
                progress.WouldBlockErrno = wouldBlockErrno;
                return progress;
            }

            if (done < count && results[done - 1] == SendBackend.Sent)
            {
                _partialSends++;
            }

            for (int i = 0; i < done; i++)
            {
                int index = first + i;
                if (results[i] == SendBackend.Sent)
                {
                    progress.Sent++;
                    _sent++;
                    _sentBytes += _ring.GetLength(index);
                }
                else
                {
                    progress.Failed++;
                    RecordFailure(_head + i, index, results[i]);
                }
            }

            _head += done;
        }
    }

    /// <summary>
    /// SocketPerPriority and SetsockoptPerRun send one priority per call: cuts <paramref name="count"/> to the run of
    /// equal priority at <paramref name="first"/> and returns the socket to send it on.
    /// </summary>
    private SafeFdHandle PrepareRun(int first, ref int count, out int errno)
    {
        uint priority = _ring.GetPriority(first);
        int run = 1;
        while (run < count && _ring.GetPriority(first + run) == priority)
        {
            run++;
        }

        count = run;
        if (_pool is not null)
        {
            return _pool.Get(priority, out errno);
        }

        errno = 0;
        if (_socketPriority != priority)
        {
            errno = UdpSocket.TrySetInt(_socket, Interop.SOL_SOCKET, Interop.SO_PRIORITY, (int)priority);
            _socketPriority = errno == 0 ? priority : -1;
            _setsockoptCalls++;
        }

        return _socket;
    }

    /// <summary>True while the wait bound allows another wait; progress since the last check restarts the bound.</summary>
    private bool KeepWaiting(ref long progressHead, ref long deadline, out int waitMs)
    {
        long now = Environment.TickCount64;
        if (_head != progressHead)
        {
            progressHead = _head;
            deadline = now + _wouldBlockTimeoutMs;
        }

        long remaining = deadline - now;
        waitMs = (int)Math.Min(remaining, WaitSliceMs);
        return remaining > 0 && Volatile.Read(ref _state) != BusyDisposeRequested;
    }

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
            // The datagrams that never left end as failed, so every one is accounted for.
            while (_head != _tail)
            {
                int index = (int)_head & _mask;
                RecordFailure(_head, index, Errno.ECANCELED);
                _head++;
            }

            Volatile.Write(ref _state, Disposed);
            _pool?.Dispose();
            _backend.Dispose();
            _socket.Dispose();
            _ring.Dispose();
        }
    }

    private struct Progress
    {
        public int Sent;
        public int Failed;
        public int WouldBlockErrno;

        public void Add(Progress p)
        {
            Sent += p.Sent;
            Failed += p.Failed;
        }
    }

    /// <summary>A reusable, allocation-free wait for POLLOUT that runs on the thread pool.</summary>
    private sealed class WritableWaiter : IValueTaskSource, IThreadPoolWorkItem
    {
        private readonly SafeFdHandle _socket;
        private ManualResetValueTaskSourceCore<bool> _core;
        private int _errno;
        private int _timeoutMs;

        internal WritableWaiter(SafeFdHandle socket)
        {
            _socket = socket;
            _core.RunContinuationsAsynchronously = true;
        }

        internal ValueTask WaitAsync(int wouldBlockErrno, int timeoutMs)
        {
            _core.Reset();
            _errno = wouldBlockErrno;
            _timeoutMs = timeoutMs;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return new ValueTask(this, _core.Version);
        }

        void IThreadPoolWorkItem.Execute()
        {
            try
            {
                Wait(_socket, _errno, _timeoutMs);
                _core.SetResult(true);
            }
            catch (Exception e)
            {
                _core.SetException(e);
            }
        }

        internal static void Wait(SafeFdHandle socket, int wouldBlockErrno, int timeoutMs)
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

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
