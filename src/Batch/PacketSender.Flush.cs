using System.Runtime.CompilerServices;

namespace Perf.Batch;

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
        Progress total = default;
        long progressHead = _queue.Head;
        long deadline = Environment.TickCount64 + _wouldBlockTimeoutMs;
        while (true)
        {
            Progress p = SendQueued(fullBatchesOnly: false);
            total.Add(p);
            if (p.WouldBlockErrno == 0 || !KeepWaiting(ref progressHead, ref deadline, out int waitMs))
            {
                break;
            }

            WaitBlocking(p.BlockedSocket ?? _socket, p.WouldBlockErrno, waitMs);
        }

        IdleWhenEmpty();
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
        Progress p;
        try
        {
            p = SendQueued(fullBatchesOnly: false);
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
    private async ValueTask<FlushOutcome> FlushSlowAsync(Progress total, CancellationToken cancellationToken)
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
            _gate.Exit(finalSend: false);
        }
    }

    private void IdleWhenEmpty()
    {
        // Only with an empty ring: no queued datagram can still need a socket that closes.
        if (_queue.IsEmpty)
        {
            _path.Idle();
        }
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
            int pending = _queue.Span;
            if (pending == 0 || (fullBatchesOnly && pending < _autoFlushAt))
            {
                return progress;
            }

            _planner.Plan();
            AdaptBatch();
            if (_timestamps is not null)
            {
                _timestamps.Now = Environment.TickCount64;
            }

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
                _queue.AdvanceOverEnded();
            }
            else
            {
                _queue.EndAtHead(completed);
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
    /// datagrams to fill a batch of messages in each send group, within the ring: few messages a call cost more per
    /// datagram than a full batch (bench/results/sidebyside-2026-12-03-interleaved.md).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AdaptBatch()
    {
        int groups = _planner.GroupCount;
        int messages = _planner.PlannedMessages;
        int datagrams = _planner.PlannedDatagrams;
        int capacity = _queue.Capacity;
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
        // The strategy puts the group's priority in place: nothing where each datagram's cmsg carries it, the priority's
        // pool socket, or setsockopt on the sender's own; a priority that cannot be set fails the group's datagrams.
        SafeFdHandle socket = _path.BeforeGroup(_socket, _planner.GroupPriority(group), out int groupErrno);
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
                PollTimestamps(socket); // empty the error queue before waiting: its reports make the socket ready too
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

            // The SCHED reports of what just left are already queued (__dev_queue_xmit ran inside the call).
            PollTimestamps(socket);
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
            if (_timestamps is not null)
            {
                TrackSent(m, segments);
            }

            _sentBytes += _planner.MessageBytes(m);
            if (_ring.References != 0 || !_planner.Ordered)
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

        TrackFailed(result);
        for (int s = 0; s < segments; s++)
        {
            int index = _planner.Slot(m, s);
            progress.Failed++;
            RecordFailure(_queue.SequenceOf(index), index, result);
            EndSlot(index);
        }

        return true;
    }

    // What an ended slot leaves behind: a reference to outside memory given back; out of ring order, a mark for the head.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EndSlot(int index)
    {
        ReleaseReference(index);

        if (!_planner.Ordered)
        {
            _queue.EndEarly(index);
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

}
