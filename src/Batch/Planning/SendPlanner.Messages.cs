namespace Perf.Batch;

internal sealed unsafe partial class SendPlanner
{
    // How many datagrams from queue position `position` (ring index `start`) form one message in ring order;
    // keyChange: the run ended because the next datagram has another priority or destination.
    private int RunLength(long head, int position, int pending, int start, out bool keyChange)
    {
        keyChange = false;
        int segment = _ring.GetLength(start);
        if (_maxSegments <= 1 || segment > _maxSegmentSize)
        {
            keyChange = position + 1 < pending && !SameKey(start, (int)(head + position + 1) & _mask);
            return 1;
        }

        uint priority = _ring.GetPriority(start);
        int n = 1;
        int bytes = segment;
        int pages = _maxPages > 0 ? PagesOf(start) : 0;
        while (position + n < pending && n < _maxSegments)
        {
            int next = (int)(head + position + n) & _mask;
            if ((_priorityKeyed && _ring.GetPriority(next) != priority) || !_ring.SameIpHeader(start, next))
            {
                keyChange = true;
                break;
            }

            if (!Extends(start, next, segment, ref bytes, ref pages))
            {
                break;
            }

            n++;
            if (_ring.GetLength(next) < segment)
            {
                break; // a shorter datagram ends the run
            }
        }

        return n;
    }

    private bool SameKey(int a, int b) => (!_priorityKeyed || _ring.GetPriority(a) == _ring.GetPriority(b)) && _ring.SameIpHeader(a, b);

    // The same rule inside one key's slots, listed in _slots[position, end): priority and destination are equal there.
    private int KeyRunLength(int position, int end)
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
        int previous = bytes;
        int pages = _maxPages > 0 ? PagesOf(start) : 0;
        while (position + n < end && n < _maxSegments)
        {
            int next = slots[position + n];
            if (!Extends(start, next, segment, ref bytes, ref pages))
            {
                break;
            }

            n++;
            if (bytes - previous < segment)
            {
                break;
            }

            previous = bytes;
        }

        return n;
    }

    // Whether slot `next` may join the run from slot `start` of `segment`-byte segments that holds `bytes` bytes over
    // `pages` pages so far (and if so, counts it in): no longer than the segment, within one IP datagram, leaving at
    // the same time (one skb, one launch time) and, under zero copy, within the page cap.
    private bool Extends(int start, int next, int segment, ref int bytes, ref int pages)
    {
        int length = _ring.GetLength(next);
        if (length > segment || bytes + length > MaxRunBytes || !_ring.SameTxTime(start, next))
        {
            return false;
        }

        if (_maxPages > 0 && (pages += PagesOf(next)) > _maxPages)
        {
            return false;
        }

        bytes += length;
        return true;
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

    // The run's payload iovecs, adjacent memory merged (consecutive packed slots, a received GRO buffer): one iovec
    // where the run lies in one piece.
    private int GatherIoVecs(int position, int n, Interop.IoVec* vectors)
    {
        int used = 0;
        for (int k = 0; k < n; k++)
        {
            int slot = _slots![position + k];
            Interop.IoVec* v = _ring.IoVecPtr(slot);
            int count = (int)_ring.Messages[slot].Hdr.IovLen;
            for (int j = 0; j < count; j++, v++)
            {
                if (used > 0 && vectors[used - 1].Base + vectors[used - 1].Length == v->Base)
                {
                    vectors[used - 1].Length += v->Length;
                }
                else
                {
                    vectors[used++] = *v;
                }
            }
        }

        return used;
    }

    // A run of small datagrams in scattered slots (grouping gathers non-neighbours) copied into one piece of the staging
    // area: the kernel walks one iovec instead of one per datagram. Returns 1, the iovec count.
    private int Stage(int position, int n, Interop.IoVec* vectors)
    {
        byte* dst = _stage + _staged;
        byte* p = dst;
        for (int k = 0; k < n; k++)
        {
            int slot = _slots![position + k];
            if (_ring.OwnsPayload(slot))
            {
                int length = _ring.GetLength(slot);
                Buffer.MemoryCopy(_ring.PayloadPtr(slot), p, length, length);
                p += length;
                continue;
            }

            Interop.IoVec* v = _ring.IoVecPtr(slot);
            int count = (int)_ring.Messages[slot].Hdr.IovLen;
            for (int j = 0; j < count; j++, v++)
            {
                Buffer.MemoryCopy(v->Base, p, (long)v->Length, (long)v->Length);
                p += v->Length;
            }
        }

        _staged += (int)(p - dst);
        vectors[0].Base = dst;
        vectors[0].Length = (nuint)(p - dst);
        return 1;
    }

    // Writes message m into the plan's mmsghdr array: a copy of the slot's own header for a single datagram, or one
    // header over the run's payloads (adjacent payload areas merged into one iovec) with a UDP_SEGMENT cmsg. A grouped
    // plan stages runs of small datagrams (its slots are rarely neighbours); a ring-order plan's runs are neighbours,
    // packed into one piece already.
    private int BuildMessage(int m, int iov, bool stage)
    {
        int n = _msgCount![m];
        int start = _slots![_msgFirst![m]];
        Interop.MMsgHdr* dst = _msgs + m;
        if (n == 1)
        {
            *dst = _ring.Messages[start];
            _msgBytes![m] = _ring.GetLength(start);
            return iov;
        }

        // Safety: the iovecs, the staged copy and the cmsg stay untouched until the backend call that sends this plan
        // returns; the segment cmsg goes in the first slot's cmsg area after its constant cmsgs, which a single send
        // never covers.
        ref Interop.MsgHdr src = ref _ring.Messages[start].Hdr;
        Interop.IoVec* vectors = _iovs + iov;
        int used = stage && _stage != null && _ring.GetLength(start) <= StageLimit
            ? Stage(_msgFirst[m], n, vectors)
            : GatherIoVecs(_msgFirst[m], n, vectors);
        nuint bytes = 0;
        for (int j = 0; j < used; j++)
        {
            bytes += vectors[j].Length;
        }

        _msgBytes![m] = (int)bytes;

        byte* area = _ring.CmsgArea(start);
        CmsgWriter.WriteSegment(area + _ring.CmsgBytes, (ushort)_ring.GetLength(start));
        dst->Hdr.Name = src.Name;
        dst->Hdr.NameLen = src.NameLen;
        dst->Hdr.Iov = vectors;
        dst->Hdr.IovLen = (nuint)used;
        dst->Hdr.Control = area;
        dst->Hdr.ControlLen = (nuint)(_ring.CmsgBytes + SlotLayout.SegmentCmsgSpace);
        dst->Hdr.Flags = 0;
        dst->Len = 0;
        return iov + used;
    }
}
