using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// One native slab of <see cref="Capacity"/> slots: a contiguous mmsghdr array (what sendmmsg/recvmmsg take),
/// then per-slot metadata (iovec, sockaddr_storage, cmsg area), then payload areas.
/// Every pointer is carved once at construction; reuse rewrites only the fields that change.
/// </summary>
/// <remarks>
/// The owner frees the slab exactly once, and only when no syscall that reads it is running
/// (sendmmsg/recvmmsg are synchronous; the io_uring backend holds the ring until its last CQE).
/// Not thread-safe: one owner drives it.
/// </remarks>
internal sealed unsafe class SlotRing : IDisposable
{
    private byte* _slab;
    private Interop.MMsgHdr* _msgs;
    private byte* _meta;
    private byte* _payload;
    private readonly int _payloadStride;

    // Managed shadows of what the planner reads per slot on every flush, so its passes touch a few KB instead of the
    // slots' native metadata lines. The native fields stay the kernel's truth; these are written alongside them.
    private readonly int[] _lengths;
    private readonly uint[] _priorities;
    private readonly bool[] _referenced;
    private readonly byte[]? _trafficClasses; // only where each slot carries its own (IP_TOS / IPV6_TCLASS cmsg)
    private readonly long[]? _txTimes;        // only where each slot carries its own launch time (SCM_TXTIME cmsg)
    private readonly int _priorityCmsgOffset;
    private readonly int _txTimeCmsgOffset;
    private bool _addressed; // some slot has had a destination (msg_name) written

    internal SlotRing(int capacity, int maxPayload, bool priorityCmsg)
        : this(capacity, maxPayload, priorityCmsg ? Interop.SO_PRIORITY : 0)
    {
    }

    /// <param name="capacity">Number of slots.</param>
    /// <param name="maxPayload">Payload area per slot.</param>
    /// <param name="cmsgType">SOL_SOCKET cmsg carrying each slot's priority value: SO_PRIORITY, SO_MARK, or 0 for none.</param>
    /// <param name="trafficClassFamily">
    /// AF_INET or AF_INET6 where each slot carries its own DSCP and ECN (an IP_TOS or IPV6_TCLASS cmsg), 0 for none.
    /// </param>
    /// <param name="txTime">Each slot carries its own launch time (an SCM_TXTIME cmsg, after the priority's).</param>
    internal SlotRing(int capacity, int maxPayload, int cmsgType, int trafficClassFamily = 0, bool txTime = false)
    {
        Debug.Assert(capacity > 0 && maxPayload is > 0 and <= 65535, "validated by the options");
        Capacity = capacity;
        MaxPayload = maxPayload;
        _payloadStride = SlotLayout.PayloadStride(maxPayload);
        _lengths = new int[capacity];
        _priorities = new uint[capacity];
        _referenced = new bool[capacity];
        if (trafficClassFamily != 0)
        {
            _trafficClasses = new byte[capacity];
            _priorityCmsgOffset = SlotLayout.PriorityCmsgSpace;
        }

        // The traffic class goes first: an IP_TOS cmsg also sets the datagram's priority to rt_tos2priority(tos), and
        // the kernel applies cmsgs in order, so the priority cmsg after it wins.
        _txTimeCmsgOffset = _priorityCmsgOffset + (cmsgType != 0 ? SlotLayout.PriorityCmsgSpace : 0);
        CmsgBytes = _txTimeCmsgOffset + (txTime ? SlotLayout.TxTimeCmsgSpace : 0);
        _txTimes = txTime ? new long[capacity] : null;
        nuint msgsBytes = (nuint)capacity * (nuint)sizeof(Interop.MMsgHdr);
        nuint metaBytes = (nuint)capacity * SlotLayout.MetaStride;
        nuint payloadBytes = (nuint)capacity * (nuint)_payloadStride;
        SlabBytes = msgsBytes + metaBytes + payloadBytes;

        _slab = NativeSlab.Allocate(SlabBytes); // page-aligned and zeroed
        _msgs = (Interop.MMsgHdr*)_slab;
        _meta = _slab + msgsBytes;
        _payload = _meta + metaBytes;

        for (int i = 0; i < capacity; i++)
        {
            InitSlot(i, cmsgType, trafficClassFamily);
        }
    }

    // Points the slot's msghdr at its iovec and payload, and writes its constant cmsg headers (a send rewrites only
    // the values).
    private void InitSlot(int i, int cmsgType, int trafficClassFamily)
    {
        byte* meta = MetaPtr(i);
        var iov = (Interop.IoVec*)(meta + SlotLayout.IoVecOffset);
        iov->Base = PayloadPtr(i);
        iov->Length = 0;

        ref Interop.MsgHdr h = ref _msgs[i].Hdr;
        h.Iov = iov;
        h.IovLen = 1;
        h.Name = null;
        h.NameLen = 0;
        byte* cmsg = meta + SlotLayout.CmsgOffset;
        if (trafficClassFamily != 0)
        {
            bool v6 = trafficClassFamily == Interop.AF_INET6;
            CmsgWriter.WriteU32(cmsg, v6 ? Interop.SOL_IPV6 : Interop.SOL_IP, v6 ? Interop.IPV6_TCLASS : Interop.IP_TOS, 0);
        }

        if (cmsgType != 0)
        {
            CmsgWriter.WriteU32(cmsg + _priorityCmsgOffset, Interop.SOL_SOCKET, cmsgType, 0);
        }

        if (_txTimes is not null)
        {
            CmsgWriter.WriteU64(cmsg + _txTimeCmsgOffset, Interop.SOL_SOCKET, Interop.SO_TXTIME, 0);
        }

        if (CmsgBytes != 0)
        {
            h.Control = cmsg;
            h.ControlLen = (nuint)CmsgBytes;
        }
    }

    ~SlotRing() => Free();

    internal int Capacity { get; }

    /// <summary>
    /// Bytes of constant cmsgs every slot carries (traffic class, priority, launch time, each 24 where present): 0 to 72.
    /// A run's UDP_SEGMENT cmsg goes right after them.
    /// </summary>
    internal int CmsgBytes { get; }

    /// <summary>Whether each slot carries its own traffic class.</summary>
    internal bool CarriesTrafficClass => _trafficClasses is not null;

    /// <summary>Whether each slot carries its own launch time.</summary>
    internal bool CarriesTxTime => _txTimes is not null;

    internal int MaxPayload { get; }

    internal nuint SlabBytes { get; }

    internal Interop.MMsgHdr* Messages => _msgs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* PayloadPtr(int index) => _payload + ((nuint)index * (nuint)_payloadStride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* MetaPtr(int index) => _meta + ((nuint)index * SlotLayout.MetaStride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Span<byte> Payload(int index) => new(PayloadPtr(index), MaxPayload);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetLength(int index, int length)
    {
        ((Interop.IoVec*)(MetaPtr(index) + SlotLayout.IoVecOffset))->Length = (nuint)length;
        _lengths[index] = length;
    }

    /// <summary>Whether the slot's datagram is its own payload area alone (one iovec at <see cref="PayloadPtr"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool OwnsPayload(int index) => !_referenced[index];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Interop.IoVec* IoVecPtr(int index) => (Interop.IoVec*)(MetaPtr(index) + SlotLayout.IoVecOffset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal byte* CmsgArea(int index) => MetaPtr(index) + SlotLayout.CmsgOffset;

    /// <summary>
    /// Whether two slots' datagrams get the same IP header apart from the priority: the same destination (both unaddressed
    /// on a connected sender counts as equal) and the same traffic class. One GSO run shares one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool SameIpHeader(int a, int b)
    {
        if (_trafficClasses is not null && _trafficClasses[a] != _trafficClasses[b])
        {
            return false;
        }

        if (!_addressed)
        {
            return true; // no slot ever had an address (a connected sender): no msghdr to read
        }

        ref Interop.MsgHdr ha = ref _msgs[a].Hdr;
        ref Interop.MsgHdr hb = ref _msgs[b].Hdr;
        if (ha.NameLen != hb.NameLen)
        {
            return false;
        }

        // sockaddr_in is 16 bytes (family, port, address, zero); sockaddr_in6 28. Both areas were written whole.
        return ha.NameLen == 0 || new ReadOnlySpan<byte>(ha.Name, (int)ha.NameLen).SequenceEqual(new ReadOnlySpan<byte>(hb.Name, (int)hb.NameLen));
    }

    /// <summary>The datagram's length: both iovecs (the second is empty unless a header precedes a referenced payload).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int GetLength(int index) => _lengths[index];

    /// <summary>
    /// Points the slot at a payload outside the ring (<paramref name="header"/>, if any, in iovec[0], the payload after
    /// it) instead of its own payload area.
    /// </summary>
    /// <remarks>Safety: both stay valid and unchanged until the slot ends and <see cref="Restore"/> runs; the caller owns that.</remarks>
    internal void SetReference(int index, byte* payload, int length, byte* header, int headerLength)
    {
        var iov = (Interop.IoVec*)(MetaPtr(index) + SlotLayout.IoVecOffset);
        if (!_referenced[index])
        {
            _referenced[index] = true;
            References++;
        }

        _lengths[index] = headerLength + length;
        if (headerLength == 0)
        {
            iov[0].Base = payload;
            iov[0].Length = (nuint)length;
            return;
        }

        iov[0].Base = header;
        iov[0].Length = (nuint)headerLength;
        iov[1].Base = payload;
        iov[1].Length = (nuint)length;
        _msgs[index].Hdr.IovLen = 2;
    }

    /// <summary>Slots that point at memory outside the ring (<see cref="SetReference"/>, not yet <see cref="Restore"/>d).</summary>
    internal int References { get; private set; }

    /// <summary>Points a slot that referenced outside memory back at its own payload area; a no-op for one that did not.</summary>
    internal void Restore(int index)
    {
        if (!_referenced[index])
        {
            return;
        }

        References--;
        var iov = (Interop.IoVec*)(MetaPtr(index) + SlotLayout.IoVecOffset);
        iov[0].Base = PayloadPtr(index);
        iov[1].Base = null;
        iov[1].Length = 0;
        _msgs[index].Hdr.IovLen = 1;
        _referenced[index] = false;
    }

    /// <summary>Writes the priority value into the slot's constant cmsg (SO_PRIORITY, or SO_MARK for MarkAndBpf).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetPriority(int index, uint priority)
    {
        *CmsgWriter.DataU32(MetaPtr(index) + SlotLayout.CmsgOffset + _priorityCmsgOffset) = priority;
        _priorities[index] = priority;
    }

    /// <summary>Writes the slot's DSCP and ECN into its traffic class cmsg (a ring that carries one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetTrafficClass(int index, byte trafficClass)
    {
        *CmsgWriter.DataU32(MetaPtr(index) + SlotLayout.CmsgOffset) = trafficClass;
        _trafficClasses![index] = trafficClass;
    }

    /// <summary>Writes the slot's launch time (ns on the sender's SO_TXTIME clock) into its SCM_TXTIME cmsg (a ring that carries one).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetTxTime(int index, long txTimeNs)
    {
        *(long*)(MetaPtr(index) + SlotLayout.CmsgOffset + _txTimeCmsgOffset + Interop.CMsgHdrSize) = txTimeNs;
        _txTimes![index] = txTimeNs;
    }

    /// <summary>Whether two slots leave at the same time: a GSO run is one skb with one launch time (skb->tstamp).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool SameTxTime(int a, int b) => _txTimes is null || _txTimes[a] == _txTimes[b];

    internal long GetTxTime(int index) => _txTimes is null ? 0 : _txTimes[index];

    internal byte GetTrafficClass(int index) => _trafficClasses is null ? (byte)0 : _trafficClasses[index];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal uint GetPriority(int index) => _priorities[index];

    /// <summary>Points the slot's msg_name at its sockaddr area and copies <paramref name="address"/> there.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void SetDestination(int index, in DatagramAddress address)
    {
        byte* sa = MetaPtr(index) + SlotLayout.SockAddrOffset;
        DatagramAddress.SockAddrOf(in address).CopyTo(new Span<byte>(sa, DatagramAddress.SockAddrIn6Size));
        ref Interop.MsgHdr h = ref _msgs[index].Hdr;
        h.Name = sa;
        h.NameLen = (uint)address.Length;
        _addressed = true;
    }

    internal DatagramAddress GetDestination(int index)
    {
        ref Interop.MsgHdr h = ref _msgs[index].Hdr;
        return h.Name == null ? default : new DatagramAddress((byte*)h.Name, (int)h.NameLen);
    }

    /// <summary>Prepares every slot for recvmmsg: name, control and iov lengths are in/out, so they are reset before each call.</summary>
    internal void ArmForReceive(int count)
    {
        for (int i = 0; i < count; i++)
        {
            byte* meta = MetaPtr(i);
            _addressed = true;
            ref Interop.MsgHdr h = ref _msgs[i].Hdr;
            h.Name = meta + SlotLayout.SockAddrOffset;
            h.NameLen = SlotLayout.SockAddrStorageSize;
            h.Control = meta + SlotLayout.CmsgOffset;
            h.ControlLen = SlotLayout.CmsgAreaSize;
            h.Flags = 0;
            ((Interop.IoVec*)(meta + SlotLayout.IoVecOffset))->Length = (nuint)MaxPayload;
            _msgs[i].Len = 0;
        }
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private void Free()
    {
        byte* slab = _slab;
        if (slab == null)
        {
            return;
        }

        // Null the derived pointers first so a late read faults at once instead of reading freed memory.
        _msgs = null;
        _meta = null;
        _payload = null;
        _slab = null;
        NativeSlab.Free(slab, SlabBytes);
    }
}
