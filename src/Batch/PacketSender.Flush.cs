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

            WritableWaiter.Wait(p.BlockedSocket ?? _socket, p.WouldBlockErrno, waitMs);
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
            SafeFdHandle? blocked = total.BlockedSocket;
            while (KeepWaiting(ref progressHead, ref deadline, out int waitMs))
            {
                await _waiter.WaitAsync(blocked ?? _socket, wouldBlock, waitMs).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                Progress p = SendQueued(fullBatchesOnly: false);
                total.Add(p);
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

    /// <summary>
    /// Sends queued slots until done or the kernel pushes back; never waits. Each pass asks the planner how the queue
    /// becomes kernel messages and groups, then sends each group on its socket, at most a batch of messages per call.
    /// </summary>
    private Progress SendQueued(bool fullBatchesOnly)
    {
        Progress progress = default;
        while (true)
        {
            long pending = _tail - _head;
            if (pending == 0 || (fullBatchesOnly && pending < _autoFlushAt))
            {
                return progress;
            }

            _planner.Plan(_head, _tail);
            AdaptBatch();
            int completed = 0; // ordered plans: how many datagrams at the head of the queue ended
            GroupOutcome outcome = GroupOutcome.Done;
            for (int g = 0; g < _planner.GroupCount; g++)
            {
                GroupOutcome o = SendGroup(g, ref progress, ref completed);
                if (o == GroupOutcome.Done)
                {
                    continue;
                }

                outcome = o;
                // A reordering plan goes on with the other priorities: each has its own socket (or its own run of the
                // one socket's buffer), so one slow class does not hold the others back.
                if (o == GroupOutcome.Replan || _planner.Ordered)
                {
                    break;
                }
            }

            if (!_planner.Ordered)
            {
                while (_head != _tail && _planner.TakeDone((int)_head & _mask))
                {
                    _head++;
                    _endedAhead--;
                }
            }
            else
            {
                _head += completed;
            }

            if (outcome == GroupOutcome.Blocked)
            {
                return progress;
            }
        }
    }

    /// <summary>
    /// When auto-flush sends. Plain (one datagram a message, no runs): a batch of BatchSize. Where a grouped plan makes
    /// GSO runs: the largest multiple of one full run per key that the ring holds, so every run is full (seven
    /// interleaved priorities of 64 B, runs of 64: 896 datagrams in the default ring, two full runs each, where a flush
    /// of the whole ring cut each key's 146 into uneven ones). Otherwise (runs in ring order, socket groups): enough
    /// datagrams to fill a batch of messages in each send group, within the ring; measured here, 1200-byte runs of 16
    /// left at 2.79M datagrams/s when flushed every 64 datagrams (4 messages a call) and 3.10M/s at 64 messages a call.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AdaptBatch()
    {
        int groups = _planner.GroupCount;
        int messages = _planner.PlannedMessages;
        int datagrams = _planner.PlannedDatagrams;
        int capacity = _mask + 1;
        if (groups == 1 && messages == datagrams)
        {
            _autoFlushAt = _batch; // plain: one datagram a message, one call a batch
            return;
        }

        int full = _planner.FullRunWindow;
        long wanted = full > 0 && messages < datagrams
            ? (long)full * Math.Max(1, capacity / full)
            : (long)_batch * groups * datagrams / Math.Max(1, messages);
        _autoFlushAt = (int)Math.Clamp(wanted, _batch, capacity);
    }

    private enum GroupOutcome
    {
        Done,
        Blocked,
        Replan,
    }

    /// <summary>Sends one planned group: its socket and priority first, then its messages, a batch per call.</summary>
    private unsafe GroupOutcome SendGroup(int group, ref Progress progress, ref int completed)
    {
        SafeFdHandle socket = PrepareGroup(_planner.GroupPriority(group), out int groupErrno);
        Span<int> results = _results;
        (int message, int end) = _planner.GroupMessages(group);
        while (message < end)
        {
            int count = Math.Min(_batch, end - message);
            int done;
            int wouldBlockErrno = 0;
            if (groupErrno != 0)
            {
                // The group's priority cannot be set (EPERM): each of its datagrams fails with that errno.
                results[..count].Fill(groupErrno);
                done = count;
            }
            else
            {
                done = _backend.Send(socket, _planner.Messages(message), count, results, out wouldBlockErrno);
                _sendCalls++;
            }

            if (done == 0)
            {
                _wouldBlock++;
                progress.WouldBlockErrno = wouldBlockErrno;
                progress.BlockedSocket = socket;
                return GroupOutcome.Blocked;
            }

            if (done < count && results[done - 1] == SendBackend.Sent)
            {
                _partialSends++;
            }

            for (int k = 0; k < done; k++)
            {
                if (!EndMessage(message + k, results[k], ref progress))
                {
                    return GroupOutcome.Replan;
                }

                completed += _planner.Segments(message + k);
            }

            message += done;
        }

        return GroupOutcome.Done;
    }

    /// <summary>
    /// Ends the datagrams of message <paramref name="m"/> with its result. False, ending nothing, where the route refused
    /// a segmented message: its datagrams stay queued and go again. EIO (the egress device cannot checksum it) or
    /// EINVAL turn segmentation off for good; EMSGSIZE (a segment does not fit the path MTU) only for that size and up.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool EndMessage(int m, int result, ref Progress progress)
    {
        int segments = _planner.Segments(m);
        if (result == SendBackend.Sent)
        {
            // Counted per message: a run's datagrams all left.
            if (segments > 1)
            {
                _segmentedMessages++;
                _segmentedDatagrams += segments;
            }

            progress.Sent += segments;
            _sent += segments;
            _sentBytes += _planner.MessageBytes(m);
            if (_references != 0 || !_planner.Ordered)
            {
                for (int s = 0; s < segments; s++)
                {
                    EndSlot(_planner.Slot(m, s));
                }
            }

            return true;
        }

        if (segments > 1 && result is Errno.EIO or Errno.EINVAL or Errno.EMSGSIZE)
        {
            RefuseSegmented(result, _planner.SegmentSize(m));
            return false;
        }

        for (int s = 0; s < segments; s++)
        {
            int index = _planner.Slot(m, s);
            progress.Failed++;
            RecordFailure(_head + ((index - _head) & _mask), index, result);
            EndSlot(index);
        }

        return true;
    }

    // What an ended slot leaves behind: a reference to outside memory given back; out of ring order, a mark for the head.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EndSlot(int index)
    {
        if (_references != 0)
        {
            ReleaseReference(index);
        }

        if (!_planner.Ordered)
        {
            _planner.MarkDone(index);
            _endedAhead++;
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

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RefuseSegmented(int errno, int segmentSize)
    {
        if (errno == Errno.EMSGSIZE)
        {
            _planner.LimitSegmentSize(segmentSize - 1);
            return;
        }

        _planner.StopSegmenting();
        _segmentationStoppedBy = errno;
    }

    /// <summary>
    /// The socket a group goes out on, with the group's priority in place: the sender's own (Cmsg, MarkAndBpf: the
    /// priority rides in each datagram's cmsg), the priority's pool socket (SocketPerPriority), or the sender's own after
    /// setsockopt(SO_PRIORITY) when the priority changes (SetsockoptPerRun). A priority that cannot be set gives the errno
    /// its datagrams fail with.
    /// </summary>
    private SafeFdHandle PrepareGroup(uint priority, out int errno)
    {
        errno = 0;
        if (_pool is not null)
        {
            return _pool.Get(priority, out errno);
        }

        if (_strategy == PriorityStrategy.SetsockoptPerRun && _socketPriority != priority)
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
            // The datagrams that never left end as failed, so every one is accounted for (a reordering plan may have
            // ended some past the head already).
            FailQueuedCore(Errno.ECANCELED);

            Volatile.Write(ref _state, Disposed);
            _pool?.Dispose();
            _backend.Dispose();
            _socket.Dispose();
            _planner.Dispose();
            _ring.Dispose();
        }
    }

    private struct Progress
    {
        public int Sent;
        public int Failed;
        public int WouldBlockErrno;
        public SafeFdHandle? BlockedSocket; // the socket that pushed back: a pool socket under SocketPerPriority

        public void Add(Progress p)
        {
            Sent += p.Sent;
            Failed += p.Failed;
        }
    }

    /// <summary>A reusable, allocation-free wait for POLLOUT that runs on the thread pool.</summary>
    private sealed class WritableWaiter : IValueTaskSource, IThreadPoolWorkItem
    {
        private SafeFdHandle? _socket;
        private ManualResetValueTaskSourceCore<bool> _core;
        private int _errno;
        private int _timeoutMs;

        internal WritableWaiter() => _core.RunContinuationsAsynchronously = true;

        internal ValueTask WaitAsync(SafeFdHandle socket, int wouldBlockErrno, int timeoutMs)
        {
            _core.Reset();
            _socket = socket;
            _errno = wouldBlockErrno;
            _timeoutMs = timeoutMs;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return new ValueTask(this, _core.Version);
        }

        void IThreadPoolWorkItem.Execute()
        {
            try
            {
                Wait(_socket!, _errno, _timeoutMs);
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
