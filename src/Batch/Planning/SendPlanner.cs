using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// The one step between the slot ring and a backend: cuts the queued slots into kernel messages and the messages into
/// send groups, each group sent on one socket with one priority in place. Every way of sending a queue is a rule here,
/// never a special case in the flush loop:
/// <list type="bullet">
/// <item>plain: each slot is its own message and the ring's mmsghdr array is used as it is (no copy);</item>
/// <item>UDP GSO: a run of datagrams with equal priority, destination and size (the last may be shorter) becomes one
/// message whose iovecs point at the slots' payloads, with a UDP_SEGMENT cmsg next to the priority cmsg;</item>
/// <item>grouping (the default, unless StrictPriorityOrder): what is queued is gathered by (priority, destination),
/// order kept within each, so runs form even where priorities interleave; every strategy groups;</item>
/// <item>send groups: one for the whole plan where the priority rides in each message's cmsg (Cmsg, MarkAndBpf), one
/// per priority where the socket carries it (SocketPerPriority, SetsockoptPerRun).</item>
/// </list>
/// </summary>
/// <remarks>
/// A plan covers at most the ring's capacity. Ordered plans (StrictPriorityOrder, or nothing to gain from grouping) cover
/// a prefix of the queue in ring order. A grouping plan ends slots out of ring order: the send loop marks them in the
/// <see cref="SlotQueue"/>, which owns that state, and the next plan skips them.
/// Not thread-safe: the sender's flush drives it.
/// </remarks>
internal sealed unsafe partial class SendPlanner : IDisposable
{
    /// <summary>Largest UDP payload one GSO message may carry (the whole run must fit one IPv4 datagram).</summary>
    internal const int MaxRunBytes = SlotLayout.MaxUdpPayload;

    /// <summary>At most this many (priority, destination) keys in one grouped plan; a queue with more is planned in several passes.</summary>
    internal const int MaxGroups = 64;

    /// <summary>
    /// Largest datagram a grouped run copies into the staging area rather than pointing an iovec at each slot. The kernel
    /// pays per iovec, so small datagrams are cheaper copied into one piece; copying large ones costs more than it saves
    /// (the gso-scatter rows of bench/results/sidebyside-2026-11-30.md).
    /// </summary>
    internal const int StageLimit = 256;

    private const int PageShift = 12; // x86-64 and arm64 4 KiB pages; a larger page only overcounts, never under

    private readonly SlotRing _ring;
    private readonly SlotQueue _queue;
    private readonly int _mask;
    private readonly int _batch;
    private readonly bool _socketGroups;  // one send group per priority (the socket carries it)
    private readonly bool _priorityKeyed; // the priority splits runs and groups (off when per-packet priority is)
    private readonly bool _reorder;       // plans gather by key out of ring order

    // Built plans only: messages and iovecs in native memory (the kernel reads them), the rest managed.
    private Interop.MMsgHdr* _msgs;
    private Interop.IoVec* _iovs;
    private byte* _stage;                // grouped runs of small datagrams copied into one piece (null: none)
    private int _staged;                 // bytes of _stage used by the current plan
    private readonly int[]? _msgFirst;   // per message: first position in _slots
    private readonly int[]? _msgCount;   // per message: datagrams (segments)
    private readonly int[]? _msgBytes;   // per message: payload bytes, all segments
    private readonly int[]? _slots;      // ring indices, message by message

    // Send groups: [first, end) messages and the priority to put in place.
    private readonly int[] _groupFirst = new int[MaxGroups];
    private readonly int[] _groupEnd = new int[MaxGroups];
    private readonly uint[] _groupPriority = new uint[MaxGroups];
    private int _groups;

    private bool _direct;
    private bool _singleKey; // the last grouping attempt found one key: try ring order first
    private int _directFirst;

    private int _maxSegments;
    private int _maxSegmentSize;
    private readonly int _maxPages;

    /// <param name="ring">The sender's slots.</param>
    /// <param name="queue">Which of them are queued, and which ended early.</param>
    /// <param name="batch">Messages per backend call.</param>
    /// <param name="priorityCmsg">Slots carry a priority (or mark) cmsg at the start of their cmsg area.</param>
    /// <param name="grouped">One priority per send group, set on the socket: SocketPerPriority and SetsockoptPerRun.</param>
    /// <param name="reorder">Plans gather the queue by (priority, destination) instead of cutting it in ring order.</param>
    /// <param name="maxSegments">Datagrams one GSO message may carry; 0 or 1 turns segmentation off.</param>
    /// <param name="maxSegmentSize">Largest segment (the path MTU less headers where known).</param>
    /// <param name="maxPages">Most memory pages one GSO message's payload may span; 0 for no limit.</param>
    internal SendPlanner(SlotRing ring, SlotQueue queue, int batch, bool priorityCmsg, bool grouped, bool reorder, int maxSegments, int maxSegmentSize, int maxPages = 0)
    {
        _maxPages = maxPages;
        _ring = ring;
        _queue = queue;
        _mask = ring.Capacity - 1;
        _batch = batch;
        _socketGroups = grouped;
        _priorityKeyed = priorityCmsg || grouped;
        // Gathering pays where it makes runs (GSO) or saves socket changes (grouped); else ring order is as good.
        _reorder = reorder && (grouped || maxSegments > 1);
        _maxSegments = maxSegments;
        _maxSegmentSize = maxSegmentSize;
        if (maxSegments > 1 || _reorder)
        {
            int capacity = ring.Capacity;
            _msgs = (Interop.MMsgHdr*)NativeSlab.Allocate(MsgsBytes);
            // Up to two iovecs a slot: a header and a referenced payload.
            _iovs = (Interop.IoVec*)NativeSlab.Allocate(IovsBytes);
            _msgFirst = new int[capacity];
            _msgCount = new int[capacity];
            _msgBytes = new int[capacity];
            _slots = new int[capacity];
            if (_reorder && maxSegments > 1 && maxPages == 0)
            {
                // Every slot of a plan staged at most once, at most StageLimit bytes each. Not under zero copy, where
                // the point is that the kernel reads the slots themselves.
                _stage = NativeSlab.Allocate(StageBytes);
            }
        }
    }

    ~SendPlanner() => Free();

    private nuint MsgsBytes => (nuint)(_mask + 1) * (nuint)sizeof(Interop.MMsgHdr);

    private nuint IovsBytes => 2 * (nuint)(_mask + 1) * (nuint)sizeof(Interop.IoVec);

    private nuint StageBytes => (nuint)(_mask + 1) * StageLimit;

    /// <summary>Whether runs of equal datagrams go out as one UDP GSO message.</summary>
    internal bool Segmenting => _maxSegments > 1;

    /// <summary>Datagrams one GSO message may carry.</summary>
    internal int MaxSegments => _maxSegments;

    /// <summary>Whether plans may end slots out of ring order (marked in the <see cref="SlotQueue"/>).</summary>
    internal bool Reordering => _reorder;

    /// <summary>
    /// Whether the current plan is in ring order: its datagrams end as a prefix of the queue, and no slot past the head
    /// had ended when it was made, so the sender advances its head by the count and marks nothing.
    /// </summary>
    internal bool Ordered { get; private set; } = true;

    /// <summary>Turns segmentation off for good (the kernel refused a segmented message: EIO, or EINVAL).</summary>
    internal void StopSegmenting() => _maxSegments = 0;

    /// <summary>
    /// Forms no more runs of segments larger than <paramref name="bytes"/>: a segment must fit the path MTU, and the
    /// kernel answered EMSGSIZE for one that did not (an unconnected sender cannot know the MTU in advance).
    /// </summary>
    internal void LimitSegmentSize(int bytes) => _maxSegmentSize = Math.Min(_maxSegmentSize, bytes);

    /// <summary>The segment size of a message: its first datagram's length.</summary>
    internal int SegmentSize(int message) => _ring.GetLength(Slot(message, 0));

    /// <summary>Send groups in the current plan.</summary>
    internal int GroupCount => _groups;

    /// <summary>Kernel messages in the current plan, all groups.</summary>
    internal int PlannedMessages { get; private set; }

    /// <summary>Datagrams in the current plan, all groups.</summary>
    internal int PlannedDatagrams { get; private set; }

    /// <summary>
    /// Grouped plans: the datagrams that would make one full GSO run of every key in the plan (each key's run limit:
    /// the segment limit, or what fits one IP datagram at its size); 0 for plans in ring order.
    /// </summary>
    internal int FullRunWindow { get; private set; }

    /// <summary>The priority a send group needs on its socket (SocketPerPriority, SetsockoptPerRun).</summary>
    internal uint GroupPriority(int group) => _groupPriority[group];

    /// <summary>The send group's messages, [first, end).</summary>
    internal (int First, int End) GroupMessages(int group) => (_groupFirst[group], _groupEnd[group]);

    /// <summary>The kernel messages from <paramref name="message"/> on, contiguous up to the end of its group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Interop.MMsgHdr* Messages(int message) => _direct ? _ring.Messages + _directFirst + message : _msgs + message;

    /// <summary>Payload bytes of <paramref name="message"/>, all its datagrams.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int MessageBytes(int message) => _direct ? _ring.GetLength(_directFirst + message) : _msgBytes![message];

    /// <summary>Datagrams carried by <paramref name="message"/>: 1, or a GSO run's segments.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int Segments(int message) => _direct ? 1 : _msgCount![message];

    /// <summary>The ring index of datagram <paramref name="segment"/> of <paramref name="message"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int Slot(int message, int segment) => _direct ? _directFirst + message : _slots![_msgFirst![message] + segment];

    /// <summary>Plans the queue from its head to its tail, skipping what ended early.</summary>
    internal void Plan()
    {
        long head = _queue.Head;
        int pending = _queue.Span;
        Debug.Assert(pending > 0, "planned only with something queued");
        _staged = 0; // the previous plan's messages were sent (or are planned again from the slots)
        if (_reorder)
        {
            // A queue of one key (one priority, one destination) plans the same in ring order, without the gathering
            // passes: after such a plan, try ring order first and gather only once it meets a second key. A ring-order
            // plan ends a prefix of the queue, so no slot past the head has ended when it is tried.
            if (_singleKey && _maxSegments > 1 && PlanRuns(head, pending, singleKeyOnly: true))
            {
                return;
            }

            _singleKey = !PlanGrouped(head, pending);
            if (!_singleKey)
            {
                return;
            }
        }

        if (_maxSegments > 1)
        {
            PlanRuns(head, pending, singleKeyOnly: false);
        }
        else
        {
            PlanDirect(head, pending);
        }
    }

    // Each slot its own message, straight from the ring's mmsghdr array: a batch, never past the ring's end; with
    // socket groups only the leading run of equal priority.
    private void PlanDirect(long head, int pending)
    {
        int first = (int)head & _mask;
        int count = Math.Min(pending, Math.Min(_batch, _mask + 1 - first));
        uint priority = _ring.GetPriority(first);
        if (_socketGroups)
        {
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
    // the case where priorities change on every datagram pays only the comparisons. With singleKeyOnly it gives up,
    // returning false with nothing planned, at the first run that a change of priority or destination ends.
    private bool PlanRuns(long head, int pending, bool singleKeyOnly)
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
            if (_socketGroups && _ring.GetPriority(start) != groupPriority)
            {
                if (singleKeyOnly)
                {
                    return false;
                }

                break; // strict order: one priority per group, the next run waits for the next pass
            }

            int n = RunLength(head, position, pending, start, out bool keyChange);
            if (keyChange && singleKeyOnly)
            {
                return false;
            }

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
            return true;
        }

        _direct = false;
        int iov = 0;
        for (int m = 0; m < messages; m++)
        {
            iov = BuildMessage(m, iov, stage: false);
        }

        SetSingleGroup(groupPriority, messages, position);
        return true;
    }

    private void SetSingleGroup(uint priority, int messages, int datagrams)
    {
        Ordered = true;
        FullRunWindow = 0;
        PlannedMessages = messages;
        PlannedDatagrams = datagrams;
        _groups = 1;
        _groupPriority[0] = priority;
        _groupFirst[0] = 0;
        _groupEnd[0] = messages;
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
        byte* stage = _stage;
        _msgs = null;
        _iovs = null;
        _stage = null;
        NativeSlab.Free(stage, StageBytes);
        NativeSlab.Free(msgs, MsgsBytes);
        NativeSlab.Free(iovs, IovsBytes);
    }
}
