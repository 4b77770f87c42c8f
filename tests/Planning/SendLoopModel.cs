using Perf.Batch;

namespace Perf.Tests.Planning;

using Sys = Perf.Batch.Interop;

/// <summary>
/// What the send loop should have done, kept beside it: the ordinal of each queued slot, which ended and how, the order
/// of ends within each key, the failures it should have logged, and what the kernel taught it about GSO.
/// </summary>
internal sealed unsafe class SendLoopModel(SlotRing ring, SlotQueue queue, SendPlanner planner, int capacity, bool unconnected, bool priorityKeyed)
{
    private readonly long[] _ordinal = new long[capacity];
    private readonly bool[] _ended = new bool[capacity];
    private readonly Dictionary<(string, uint), long> _lastEnded = [];
    private readonly Queue<(long Ordinal, int Errno)> _failures = new();
    private int _segmentLimit = int.MaxValue;

    internal long Ended { get; private set; }

    internal long Sent { get; private set; }

    internal long SentBytes { get; private set; }

    internal long SegmentedMessages { get; private set; }

    internal long Failed { get; private set; }

    internal long Calls { get; set; }

    internal int StoppedBy { get; private set; }

    /// <summary>The priority of the send group being sent (socket groups: each message must carry it).</summary>
    internal uint? GroupPriority { get; set; }

    internal int FailuresWaiting => _failures.Count;

    internal void Queued(int index, long ordinal)
    {
        _ordinal[index] = ordinal;
        _ended[index] = false;
    }

    internal (long Ordinal, int Errno) TakeFailure() => _failures.Dequeue();

    internal void EndSent(int m)
    {
        int n = planner.Segments(m);
        if (n > 1)
        {
            SegmentedMessages++;
        }

        for (int s = 0; s < n; s++)
        {
            int slot = planner.Slot(m, s);
            End(slot);
            Sent++;
            SentBytes += ring.GetLength(slot);
        }
    }

    internal void EndFailed(int m, int errno)
    {
        for (int s = 0; s < planner.Segments(m); s++)
        {
            int slot = planner.Slot(m, s);
            End(slot);
            Failed++;
            _failures.Enqueue((_ordinal[slot], errno));
        }
    }

    /// <summary>A segmented message refused: EMSGSIZE lowers the segment limit, EIO and EINVAL stop segmentation.</summary>
    internal void Refused(int m, int errno)
    {
        if (errno == Errno.EMSGSIZE)
        {
            _segmentLimit = Math.Min(_segmentLimit, ring.GetLength(planner.Slot(m, 0)) - 1);
        }
        else
        {
            StoppedBy = errno;
        }
    }

    /// <summary>A group the strategy refused: all of its messages fail with the errno, in order.</summary>
    internal void FailGroup(uint priority, int errno)
    {
        int found = 0;
        for (int g = 0; g < planner.GroupCount; g++)
        {
            if (planner.GroupPriority(g) != priority)
            {
                continue;
            }

            found++;
            (int first, int end) = planner.GroupMessages(g);
            for (int m = first; m < end; m++)
            {
                CheckMessage(m);
                EndFailed(m, errno);
            }
        }

        Assert.Equal(1, found); // socket groups: one per priority
    }

    /// <summary>What a message the loop hands the backend must be.</summary>
    internal void CheckMessage(int m)
    {
        int n = planner.Segments(m);
        Assert.True(n == 1 || (planner.Segmenting && n <= planner.MaxSegments), "run of " + n + " over the limit " + planner.MaxSegments);
        Assert.True(n == 1 || StoppedBy == 0, "a run after segmentation stopped");
        int first = planner.Slot(m, 0);
        int segment = ring.GetLength(first);
        Assert.True(n == 1 || segment <= _segmentLimit, "a run of " + segment + " B segments after EMSGSIZE at " + (_segmentLimit + 1));
        int bytes = 0;
        long previous = -1;
        for (int s = 0; s < n; s++)
        {
            int slot = planner.Slot(m, s);
            Assert.False(_ended[slot], "slot " + slot + " sent after it ended");
            Assert.True(_ordinal[slot] >= queue.Head && _ordinal[slot] < queue.Tail, "slot outside the queue");
            Assert.Equal(_ordinal[slot], queue.SequenceOf(slot));
            Assert.True(_ordinal[slot] > previous, "a run out of enqueue order");
            previous = _ordinal[slot];
            Assert.True(ring.SameIpHeader(first, slot), "a run across destinations");
            Assert.True(!priorityKeyed || ring.GetPriority(first) == ring.GetPriority(slot), "a run across priorities");
            Assert.True(GroupPriority is not { } p || ring.GetPriority(slot) == p, "a datagram in another priority's group");
            int length = ring.GetLength(slot);
            Assert.True(s == n - 1 ? length <= segment : length == segment, "run sizes: " + length + " after " + segment);
            bytes += length;
        }

        Assert.True(bytes <= SendPlanner.MaxRunBytes, "a run of " + bytes + " bytes");
        Assert.Equal(bytes, planner.MessageBytes(m));
        Sys.MMsgHdr* h = planner.Messages(m);
        long iovBytes = 0;
        for (int j = 0; j < (int)h->Hdr.IovLen; j++)
        {
            iovBytes += (long)h->Hdr.Iov[j].Length;
        }

        Assert.Equal(bytes, iovBytes);
    }

    /// <summary>After a pass the head has moved over every ended datagram before the first one still queued.</summary>
    internal void CheckHead()
    {
        if (!queue.IsEmpty)
        {
            Assert.False(_ended[queue.IndexOf(queue.Head)], "the head stopped at an ended datagram");
        }
    }

    private void End(int slot)
    {
        Assert.False(_ended[slot], "slot " + slot + " ended twice");
        _ended[slot] = true;
        Ended++;
        var key = (unconnected ? ring.GetDestination(slot).ToString() : "", priorityKeyed ? ring.GetPriority(slot) : 0u);
        long ordinal = _ordinal[slot];
        if (_lastEnded.TryGetValue(key, out long last))
        {
            Assert.True(ordinal > last, "order broken within a key: " + ordinal + " ended after " + last);
        }

        _lastEnded[key] = ordinal;
    }
}

/// <summary>A kernel that accepts most messages, fails some, pushes back and refuses segmented ones at random.</summary>
internal sealed unsafe class ScriptedBackend(SendLoopModel model, SendPlanner planner, Random r) : SendBackend
{
    private static readonly int[] Refusals = [Errno.EIO, Errno.EINVAL, Errno.EMSGSIZE];
    private static readonly int[] Failures = [Errno.EPERM, Errno.ECONNREFUSED, Errno.ENOBUFS];

    internal override string Name => "scripted";

    internal override SendBackendKind Kind => SendBackendKind.Sendmmsg;

    internal override int Send(SafeFdHandle socket, Sys.MMsgHdr* msgs, int count, Span<int> results, out int wouldBlockErrno)
    {
        model.Calls++;
        wouldBlockErrno = 0;
        int first = (int)(msgs - planner.Messages(0));
        for (int k = 0; k < count; k++)
        {
            int m = first + k;
            model.CheckMessage(m);
            int roll = r.Next(100);
            if (roll < 4)
            {
                // Pushed back: a partial call, or none ended and the caller waits.
                wouldBlockErrno = k == 0 ? (r.Next(2) == 0 ? Errno.EAGAIN : Errno.ENOBUFS) : 0;
                return k;
            }

            if (roll < 8 && planner.Segments(m) > 1)
            {
                results[k] = Refusals[r.Next(Refusals.Length)];
                model.Refused(m, results[k]);
                return k + 1;
            }

            if (roll < 12)
            {
                results[k] = Failures[r.Next(Failures.Length)];
                model.EndFailed(m, results[k]);
                continue;
            }

            results[k] = Sent;
            model.EndSent(m);
        }

        return count;
    }

    public override void Dispose()
    {
    }
}

/// <summary>A strategy that groups by priority (or rides in the cmsg) and may refuse one priority, as EPERM would.</summary>
internal sealed class ScriptedPath(SendLoopModel model, bool socketGroups, bool priorityCmsg, uint refused) : PriorityPath
{
    internal override int CmsgType => priorityCmsg ? Sys.SO_PRIORITY : 0;

    internal override bool SocketGroups => socketGroups;

    internal override SafeFdHandle BeforeGroup(SafeFdHandle own, uint priority, out int errno)
    {
        model.GroupPriority = socketGroups ? priority : null;
        errno = priority == refused ? Errno.EPERM : 0;
        if (errno != 0)
        {
            model.FailGroup(priority, errno);
        }

        return own;
    }
}
