using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>
/// The send loop: asks the planner how the queue becomes kernel messages and send groups, lets the strategy put each
/// group's priority in place, hands the messages to the backend, and ends each datagram with its message's result
/// (counters, failure log, timestamps, the slot queue). It learns from the kernel's refusals of GSO messages. It never
/// waits: a push-back ends the pass, and its caller (the sender's flush) decides whether and how to wait.
/// </summary>
/// <remarks>Owns the planner, the strategy's path and the backend, and disposes them.</remarks>
internal sealed class SendLoop : IDisposable
{
    private readonly SlotRing _ring;
    private readonly SlotQueue _queue;
    private readonly SendPlanner _planner;
    private readonly PriorityPath _path;
    private readonly SendBackend _backend;
    private readonly SafeFdHandle _socket;
    private readonly FailureLog _failures;
    private readonly TimestampRecorder? _timestamps;
    private readonly int[] _results;
    private readonly int _batch;
    private int _autoFlushAt; // queued datagrams that make a batch: BatchSize messages per group, as the last plan cut them

    internal SendLoop(SlotRing ring, SlotQueue queue, SendPlanner planner, PriorityPath path, SendBackend backend, SafeFdHandle socket,
        int batch, FailureLog failures, TimestampRecorder? timestamps)
    {
        _ring = ring;
        _queue = queue;
        _planner = planner;
        _path = path;
        _backend = backend;
        _socket = socket;
        _batch = batch;
        _autoFlushAt = batch;
        _results = new int[batch];
        _failures = failures;
        _timestamps = timestamps;
    }

    internal SendCounters Counters { get; } = new();

    internal SendPlanner Planner => _planner;

    internal PriorityPath Path => _path;

    internal SendBackend Backend => _backend;

    /// <summary>Whether the queue holds what auto-flush sends: a full batch, as the last plan cut the queue.</summary>
    internal bool HasFullBatch => _queue.Span >= _autoFlushAt;

    /// <summary>
    /// Sends queued slots until done or the kernel pushes back; never waits. Each pass asks the planner how the queue
    /// becomes kernel messages and groups, then sends each group on its socket, at most a batch of messages per call.
    /// </summary>
    internal SendProgress SendQueued(bool fullBatchesOnly)
    {
        SendProgress progress = default;
        while (true)
        {
            int pending = _queue.Span;
            if (pending == 0 || (fullBatchesOnly && pending < _autoFlushAt))
            {
                return progress;
            }

            _planner.Plan();
            AdaptBatch();
            _timestamps?.BeginPass();

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

    /// <summary>Ends every queued datagram as failed with <paramref name="errno"/>, in queue order.</summary>
    internal void FailQueued(int errno)
    {
        while (!_queue.IsEmpty)
        {
            long sequence = _queue.Head;
            if (_queue.TakeHead(out int index))
            {
                RecordFailure(sequence, index, errno);
                ReleaseReference(index);
            }
        }
    }

    /// <summary>The ring is empty: the strategy may let go of what is idle (no queued datagram can need a socket that closes).</summary>
    internal void IdleWhenEmpty()
    {
        if (_queue.IsEmpty)
        {
            _path.Idle();
        }
    }

    /// <summary>Reads the timestamp reports waiting on a socket (after a send call, before a wait).</summary>
    private void PollTimestamps(SafeFdHandle socket) => _timestamps?.Poll(socket);

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
    private unsafe GroupOutcome SendGroup(int group, ref SendProgress progress, ref int completed)
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
                Counters.SendCalls++;
            }

            if (done == 0)
            {
                PollTimestamps(socket); // empty the error queue before waiting: its reports make the socket ready too
                Counters.WouldBlock++;
                progress.WouldBlockErrno = wouldBlockErrno;
                progress.BlockedSocket = socket;
                return GroupOutcome.Blocked;
            }

            if (done < count && results[done - 1] == SendBackend.Sent)
            {
                Counters.PartialSends++;
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
    private bool EndMessage(int m, int result, ref SendProgress progress)
    {
        int segments = _planner.Segments(m);
        if (result == SendBackend.Sent)
        {
            SendCounters c = Counters;
            if (segments > 1)
            {
                c.SegmentedMessages++;
                c.SegmentedDatagrams += segments;
            }

            progress.Sent += segments;
            c.Sent += segments; // counted per message: a run's datagrams all left
            c.SentBytes += _planner.MessageBytes(m);
            _timestamps?.RecordSent(_ring, _queue, _planner, m, segments);
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

        _timestamps?.RecordFailed(result);
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

    /// <summary>Points a slot that referenced outside memory back at its own payload area once it has ended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ReleaseReference(int index)
    {
        if (_ring.References != 0)
        {
            _ring.Restore(index);
        }
    }

    private void RecordFailure(long sequence, int index, int errno) => _failures.Record(sequence, index, errno, _ring);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RefuseSegmented(int errno, int segmentSize)
    {
        if (errno == Errno.EMSGSIZE)
        {
            _planner.LimitSegmentSize(segmentSize - 1);
            return;
        }

        _planner.StopSegmenting();
        Counters.SegmentationStoppedBy = errno;
    }

    public void Dispose()
    {
        _path.Dispose();
        _backend.Dispose();
        _planner.Dispose();
    }
}
