using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// The one step between the slot ring and a backend: cuts the queued slots into kernel messages and the messages into
/// groups, each group sent on one socket with one priority. Every way of sending a queue is a rule here, never a
/// special case in the flush loop:
/// <list type="bullet">
/// <item>plain: each slot is its own message and the ring's mmsghdr array is used as it is (no copy);</item>
/// <item>UDP GSO: a run of datagrams with equal priority, destination and size (the last may be shorter) becomes one
/// message whose iovecs point at the slots' payloads, with a UDP_SEGMENT cmsg next to the priority cmsg;</item>
/// <item>per-priority groups (SocketPerPriority, SetsockoptPerRun): one group per run of equal priority in ring order,
/// or, when reordering across priorities is allowed, one group per priority gathered from the whole queue.</item>
/// </list>
/// </summary>
/// <remarks>
/// A plan covers at most the ring's capacity. In ordered plans the messages cover a prefix of the queue in ring order,
/// so the sender advances its head by what completed; a reordering plan can complete slots out of order and the sender
/// tracks them with <see cref="IsDone"/>. Not thread-safe: the sender's flush drives it.
/// </remarks>
internal sealed unsafe class SendPlanner : IDisposable
{
    /// <summary>Largest UDP payload one GSO message may carry (the whole run must fit one IPv4 datagram).</summary>
    internal const int MaxRunBytes = SlotLayout.MaxUdpPayload;

    /// <summary>At most this many priorities in one reordering plan; a queue with more is planned in several passes.</summary>
    internal const int MaxGroups = 64;

    private const int PageShift = 12; // x86-64 and arm64 4 KiB pages; a larger page only overcounts, never under

    private readonly SlotRing _ring;
    private readonly int _mask;
    private readonly int _batch;
    private readonly bool _priorityCmsg;
    private readonly bool _grouped;
    private readonly bool _reorder;

    // Built plans only: messages and iovecs in native memory (the kernel reads them), the rest managed.
    private Interop.MMsgHdr* _msgs;
    private Interop.IoVec* _iovs;
    private readonly int[]? _msgFirst;   // per message: first position in _slots
    private readonly int[]? _msgCount;   // per message: datagrams (segments)
    private readonly int[]? _slots;      // ring indices, message by message
    private readonly bool[]? _done;      // reordering plans: slots that ended out of ring order

    private readonly int[] _groupFirst = new int[MaxGroups];
    private readonly int[] _groupEnd = new int[MaxGroups];
    private readonly uint[] _groupPriority = new uint[MaxGroups];
    private readonly int[] _groupSlots = new int[MaxGroups];
    private int _groups;

    private bool _direct;
    private int _directFirst;

    private int _maxSegments;
    private int _maxSegmentSize;
    private readonly int _maxPages;

    /// <param name="ring">The sender's slots.</param>
    /// <param name="batch">Messages per backend call.</param>
    /// <param name="priorityCmsg">Slots carry a priority (or mark) cmsg at the start of their cmsg area.</param>
    /// <param name="grouped">One priority per group: SocketPerPriority and SetsockoptPerRun.</param>
    /// <param name="reorder">Grouped plans gather each priority from the whole queue instead of cutting runs in ring order.</param>
    /// <param name="maxSegments">Datagrams one GSO message may carry; 0 or 1 turns segmentation off.</param>
    /// <param name="maxSegmentSize">Largest segment (the path MTU less headers where known).</param>
    /// <param name="maxPages">Most memory pages one GSO message's payload may span; 0 for no limit.</param>
    internal SendPlanner(SlotRing ring, int batch, bool priorityCmsg, bool grouped, bool reorder, int maxSegments, int maxSegmentSize, int maxPages = 0)
    {
        _maxPages = maxPages;
        _ring = ring;
        _mask = ring.Capacity - 1;
        _batch = batch;
        _priorityCmsg = priorityCmsg;
        _grouped = grouped;
        _reorder = grouped && reorder;
        _maxSegments = maxSegments;
        _maxSegmentSize = maxSegmentSize;
        if (maxSegments > 1 || _reorder)
        {
            int capacity = ring.Capacity;
            _msgs = (Interop.MMsgHdr*)NativeMemory.AlignedAlloc((nuint)capacity * (nuint)sizeof(Interop.MMsgHdr), 64);
            // Up to two iovecs a slot: a header and a referenced payload.
            _iovs = (Interop.IoVec*)NativeMemory.AlignedAlloc(2 * (nuint)capacity * (nuint)sizeof(Interop.IoVec), 64);
            _msgFirst = new int[capacity];
            _msgCount = new int[capacity];
            _slots = new int[capacity];
            _done = _reorder ? new bool[capacity] : null;
        }
    }

    ~SendPlanner() => Free();

    /// <summary>Whether runs of equal datagrams go out as one UDP GSO message.</summary>
    internal bool Segmenting => _maxSegments > 1;

    /// <summary>Datagrams one GSO message may carry.</summary>
    internal int MaxSegments => _maxSegments;

    /// <summary>Whether plans may complete slots out of ring order (the sender then tracks them with <see cref="IsDone"/>).</summary>
    internal bool Reordering => _reorder;

    /// <summary>Turns segmentation off for good (the kernel refused a segmented message: EIO, or EINVAL).</summary>
    internal void StopSegmenting() => _maxSegments = 0;

    /// <summary>
    /// Forms no more runs of segments larger than <paramref name="bytes"/>: a segment must fit the path MTU, and the
    /// kernel answered EMSGSIZE for one that did not (an unconnected sender cannot know the MTU in advance).
    /// </summary>
    internal void LimitSegmentSize(int bytes) => _maxSegmentSize = Math.Min(_maxSegmentSize, bytes);

    /// <summary>The segment size of a message: its first datagram's length.</summary>
    internal int SegmentSize(int message) => _ring.GetLength(Slot(message, 0));

    internal int GroupCount => _groups;

    /// <summary>Kernel messages in the current plan, all groups.</summary>
    internal int PlannedMessages { get; private set; }

    /// <summary>Datagrams in the current plan, all groups.</summary>
    internal int PlannedDatagrams { get; private set; }

    internal uint GroupPriority(int group) => _groupPriority[group];

    /// <summary>The group's messages, [first, end).</summary>
    internal (int First, int End) GroupMessages(int group) => (_groupFirst[group], _groupEnd[group]);

    /// <summary>Datagrams in the group.</summary>
    internal int GroupDatagrams(int group) => _groupSlots[group];

    /// <summary>The kernel messages from <paramref name="message"/> on, contiguous up to the end of its group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Interop.MMsgHdr* Messages(int message) => _direct ? _ring.Messages + _directFirst + message : _msgs + message;

    /// <summary>Datagrams carried by <paramref name="message"/>: 1, or a GSO run's segments.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int Segments(int message) => _direct ? 1 : _msgCount![message];

    /// <summary>The ring index of datagram <paramref name="segment"/> of <paramref name="message"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int Slot(int message, int segment) => _direct ? _directFirst + message : _slots![_msgFirst![message] + segment];

    /// <summary>Reordering plans: marks a slot as ended.</summary>
    internal void MarkDone(int index) => _done![index] = true;

    /// <summary>Reordering plans: whether the slot ended (and forgets it, so the slot can be reused).</summary>
    internal bool TakeDone(int index)
    {
        if (!_done![index])
        {
            return false;
        }

        _done[index] = false;
        return true;
    }

    /// <summary>Reordering plans: whether the slot ended in an earlier pass.</summary>
    internal bool IsDone(int index) => _done![index];

    /// <summary>Plans the queue [<paramref name="head"/>, <paramref name="tail"/>): at most a batch of messages per group.</summary>
    internal void Plan(long head, long tail)
    {
        int pending = (int)Math.Min(tail - head, _mask + 1);
        Debug.Assert(pending > 0, "planned only with something queued");
        if (_reorder)
        {
            PlanByPriority(head, pending);
        }
        else if (_maxSegments > 1)
        {
            PlanRuns(head, pending);
        }
        else
        {
            PlanDirect(head, pending);
        }
    }

    // Each slot its own message, straight from the ring's mmsghdr array: a batch, never past the ring's end; in a grouped
    // plan only the leading run of equal priority.
    private void PlanDirect(long head, int pending)
    {
        int first = (int)head & _mask;
        int count = Math.Min(pending, Math.Min(_batch, _mask + 1 - first));
        uint priority = 0;
        if (_grouped)
        {
            priority = _ring.GetPriority(first);
            int run = 1;
            while (run < count && _ring.GetPriority(first + run) == priority)
            {
                run++;
            }

            count = run;
        }

        _direct = true;
        _directFirst = first;
        SetSingleGroup(priority, count, count);
    }

    // Ring order, with GSO runs: a first pass finds the message boundaries; when no run formed the plan stays direct, so
    // the case where priorities change on every datagram pays only the comparisons.
    private void PlanRuns(long head, int pending)
    {
        int[] first = _msgFirst!;
        int[] count = _msgCount!;
        int[] slots = _slots!;
        int messages = 0;
        int position = 0;
        bool runs = false;
        uint groupPriority = _ring.GetPriority((int)head & _mask);
        while (position < pending && messages < _batch)
        {
            int start = (int)(head + position) & _mask;
            if (_grouped && _ring.GetPriority(start) != groupPriority)
            {
                break; // strict order: one priority per group, the next run waits for the next pass
            }

            int n = RunLength(head, position, pending, start);
            first[messages] = position;
            count[messages] = n;
            for (int k = 0; k < n; k++)
            {
                slots[position + k] = (int)(head + position + k) & _mask;
            }

            runs |= n > 1;
            position += n;
            messages++;
        }

        int ringFirst = (int)head & _mask;
        if (!runs && ringFirst + messages <= _mask + 1)
        {
            _direct = true;
            _directFirst = ringFirst;
            SetSingleGroup(groupPriority, messages, messages);
            return;
        }

        _direct = false;
        int iov = 0;
        for (int m = 0; m < messages; m++)
        {
            iov = BuildMessage(m, iov);
        }

        SetSingleGroup(groupPriority, messages, position);
    }

    // SocketPerPriority and SetsockoptPerRun with reordering: every queued datagram of one priority goes in one group
    // (order kept within it), and GSO runs form inside each group. Slots that ended in an earlier pass are skipped.
    private void PlanByPriority(long head, int pending)
    {
        int[] slots = _slots!;
        int groups = 0;
        int window = 0;

        // Pass 1: count each priority's datagrams, in order of first appearance; stop at a priority past MaxGroups.
        for (; window < pending; window++)
        {
            int index = (int)(head + window) & _mask;
            if (_done![index])
            {
                continue;
            }

            uint priority = _ring.GetPriority(index);
            int g = FindGroup(priority, groups);
            if (g < 0)
            {
                if (groups == MaxGroups)
                {
                    break;
                }

                g = groups++;
                _groupPriority[g] = priority;
                _groupSlots[g] = 0;
            }

            _groupSlots[g]++;
        }

        // Pass 2: place the slots group by group (the group's slot range starts where the previous one ended).
        int[] cursor = _groupEnd; // reused as a fill cursor, rewritten below
        int offset = 0;
        for (int g = 0; g < groups; g++)
        {
            cursor[g] = offset;
            offset += _groupSlots[g];
        }

        for (int w = 0; w < window; w++)
        {
            int index = (int)(head + w) & _mask;
            if (!_done![index])
            {
                slots[cursor[FindGroup(_ring.GetPriority(index), groups)]++] = index;
            }
        }

        // Pass 3: cut each group into messages (GSO runs where they form) and build them.
        int[] first = _msgFirst!;
        int[] count = _msgCount!;
        int messages = 0;
        int iov = 0;
        int position = 0;
        for (int g = 0; g < groups; g++)
        {
            int end = position + _groupSlots[g];
            _groupFirst[g] = messages;
            while (position < end)
            {
                int n = GroupRunLength(position, end);
                first[messages] = position;
                count[messages] = n;
                iov = BuildMessage(messages, iov);
                position += n;
                messages++;
            }

            _groupEnd[g] = messages;
        }

        _direct = false;
        _groups = groups;
        PlannedMessages = messages;
        PlannedDatagrams = position;
    }

    private int FindGroup(uint priority, int groups)
    {
        for (int g = 0; g < groups; g++)
        {
            if (_groupPriority[g] == priority)
            {
                return g;
            }
        }

        return -1;
    }

    private void SetSingleGroup(uint priority, int messages, int datagrams)
    {
        PlannedMessages = messages;
        PlannedDatagrams = datagrams;
        _groups = 1;
        _groupPriority[0] = priority;
        _groupFirst[0] = 0;
        _groupEnd[0] = messages;
        _groupSlots[0] = datagrams;
    }

    // How many datagrams from queue position `position` (ring index `start`) form one message in ring order.
    private int RunLength(long head, int position, int pending, int start)
    {
        int segment = _ring.GetLength(start);
        if (_maxSegments <= 1 || segment > _maxSegmentSize)
        {
            return 1;
        }

        uint priority = _ring.GetPriority(start);
        int n = 1;
        int bytes = segment;
        int pages = _maxPages > 0 ? PagesOf(start) : 0;
        while (position + n < pending && n < _maxSegments)
        {
            int next = (int)(head + position + n) & _mask;
            int length = _ring.GetLength(next);
            if (length > segment || bytes + length > MaxRunBytes || _ring.GetPriority(next) != priority || !_ring.SameDestination(start, next)
                || (_maxPages > 0 && (pages += PagesOf(next)) > _maxPages))
            {
                break;
            }

            n++;
            bytes += length;
            if (length < segment)
            {
                break; // a shorter datagram ends the run
            }
        }

        return n;
    }

    // The same rule inside a priority group, whose slots are listed in _slots[position, end).
    private int GroupRunLength(int position, int end)
    {
        int[] slots = _slots!;
        int start = slots[position];
        int segment = _ring.GetLength(start);
        if (_maxSegments <= 1 || segment > _maxSegmentSize)
        {
            return 1;
        }

        int n = 1;
        int bytes = segment;
        int pages = _maxPages > 0 ? PagesOf(start) : 0;
        while (position + n < end && n < _maxSegments)
        {
            int next = slots[position + n];
            int length = _ring.GetLength(next);
            if (length > segment || bytes + length > MaxRunBytes || !_ring.SameDestination(start, next)
                || (_maxPages > 0 && (pages += PagesOf(next)) > _maxPages))
            {
                break;
            }

            n++;
            bytes += length;
            if (length < segment)
            {
                break;
            }
        }

        return n;
    }

    // Pages a slot's payload iovecs touch. An upper bound of the skb frags they become under zero copy: adjacent iovecs
    // sharing a page may coalesce into one frag.
    private int PagesOf(int slot)
    {
        Interop.IoVec* v = _ring.IoVecPtr(slot);
        int count = (int)_ring.Messages[slot].Hdr.IovLen;
        int pages = 0;
        for (int j = 0; j < count; j++, v++)
        {
            if (v->Length != 0)
            {
                nuint first = (nuint)v->Base >> PageShift;
                nuint last = ((nuint)v->Base + v->Length - 1) >> PageShift;
                pages += (int)(last - first) + 1;
            }
        }

        return pages;
    }

    // Writes message m into the plan's mmsghdr array: a copy of the slot's own header for a single datagram, or one
    // header over the run's payloads (adjacent payload areas merged into one iovec) with a UDP_SEGMENT cmsg.
    private int BuildMessage(int m, int iov)
    {
        int n = _msgCount![m];
        int start = _slots![_msgFirst![m]];
        Interop.MMsgHdr* dst = _msgs + m;
        if (n == 1)
        {
            *dst = _ring.Messages[start];
            return iov;
        }

        // Safety: the iovecs and the cmsg stay untouched until the backend call that sends this plan returns; the
        // segment cmsg goes in the first slot's cmsg area after its priority cmsg, which a single send never covers.
        ref Interop.MsgHdr src = ref _ring.Messages[start].Hdr;
        Interop.IoVec* vectors = _iovs + iov;
        int used = 0;
        for (int k = 0; k < n; k++)
        {
            int slot = _slots[_msgFirst[m] + k];
            Interop.IoVec* v = _ring.IoVecPtr(slot);
            int count = (int)_ring.Messages[slot].Hdr.IovLen;
            for (int j = 0; j < count; j++, v++)
            {
                if (used > 0 && vectors[used - 1].Base + vectors[used - 1].Length == v->Base)
                {
                    vectors[used - 1].Length += v->Length; // adjacent memory (a received GRO buffer, small slots): one iovec
                }
                else
                {
                    vectors[used++] = *v;
                }
            }
        }

        byte* area = _ring.CmsgArea(start);
        CmsgWriter.WriteSegment(area + SlotLayout.SegmentCmsgOffset, (ushort)_ring.GetLength(start));
        dst->Hdr.Name = src.Name;
        dst->Hdr.NameLen = src.NameLen;
        dst->Hdr.Iov = vectors;
        dst->Hdr.IovLen = (nuint)used;
        dst->Hdr.Control = _priorityCmsg ? area : area + SlotLayout.SegmentCmsgOffset;
        dst->Hdr.ControlLen = (nuint)((_priorityCmsg ? SlotLayout.PriorityCmsgSpace : 0) + SlotLayout.SegmentCmsgSpace);
        dst->Hdr.Flags = 0;
        dst->Len = 0;
        return iov + used;
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        Interop.MMsgHdr* msgs = _msgs;
        Interop.IoVec* iovs = _iovs;
        _msgs = null;
        _iovs = null;
        if (msgs != null)
        {
            NativeMemory.AlignedFree(msgs);
        }

        if (iovs != null)
        {
            NativeMemory.AlignedFree(iovs);
        }
    }
}
