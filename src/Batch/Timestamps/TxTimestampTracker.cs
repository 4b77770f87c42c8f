using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// A sender's transmit timestamps: which datagrams each accepted kernel message carried, under the key the kernel gives
/// it (SOF_TIMESTAMPING_OPT_ID: one per sendmsg on UDP, from 0, in the order messages are built); the error-queue reads;
/// and the records waiting to be drained, in send order. Fixed size: recording and reading allocate nothing. The
/// sending thread records and reads reports during its flushes while any other thread may drain: every member that
/// touches the state runs under <see cref="Gate"/> (one uncontended lock per message sent, only with timestamps on).
/// </summary>
internal sealed unsafe class TxTimestampTracker : IDisposable
{
    private const int ReadBatch = 64;
    private const int ControlBytes = 256; // SCM_TIMESTAMPING (64) + IP_RECVERR with the offender's sockaddr_in6 (64), with room

    private readonly Datagram[] _datagrams;
    private readonly Message[] _messages;
    private readonly int _mask;
    private readonly long _timeoutMs;
    private readonly Interop.MMsgHdr* _msgs;
    private readonly byte* _control;
    private long _head; // ordinal of the oldest record not yet drained
    private long _tail; // ordinal of the next record
    private uint _nextKey;
    private readonly bool _refusalsFail;
    private bool _disposed;

    /// <param name="capacity">Records kept until drained.</param>
    /// <param name="timeout">How long a record waits for its SND report.</param>
    /// <param name="refusalsFail">
    /// IP_RECVERR is on: a datagram a qdisc refuses at enqueue fails its send call (ENOBUFS) and is never registered, so
    /// etf's report of that refusal names no record here.
    /// </param>
    internal TxTimestampTracker(int capacity, TimeSpan timeout, bool refusalsFail = false)
    {
        _refusalsFail = refusalsFail;
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity);
        _datagrams = new Datagram[size];
        _messages = new Message[size];
        _mask = size - 1;
        _timeoutMs = (long)timeout.TotalMilliseconds;
        _msgs = (Interop.MMsgHdr*)NativeMemory.AllocZeroed((nuint)(ReadBatch * sizeof(Interop.MMsgHdr)));
        _control = (byte*)NativeMemory.AllocZeroed((nuint)(ReadBatch * ControlBytes));
    }

    /// <summary>Held by whoever reads or changes the records.</summary>
    internal Lock Gate { get; } = new();

    /// <summary>Environment.TickCount64 of the current flush pass: when the messages it registers were sent.</summary>
    internal long Now { get; set; }

    /// <summary>Records not yet drained, complete or not.</summary>
    internal int Pending => (int)(_tail - _head);

    /// <summary>Records that fell out before they were drained: the ring was full.</summary>
    internal long Dropped { get; private set; }

    /// <summary>Records handed out incomplete: a report never came within the timeout.</summary>
    internal long Missing { get; private set; }

    /// <summary>A message the kernel accepted: it took the next key. Its datagrams follow by <see cref="Add"/>.</summary>
    internal uint BeginMessage(int datagrams, long txTimeNs)
    {
        uint key = _nextKey++;
        ref Message m = ref _messages[(int)(key & (uint)_mask)];
        if (m.Key != key || m.Registered)
        {
            m = default; // a report read ahead of the registration (a drainer on another thread) stays
        }

        m.Key = key;
        m.Count = datagrams;
        m.TxTimeNs = txTimeNs;
        m.SentTick = Now;
        m.Registered = true;
        return key;
    }

    /// <summary>A message the kernel built (taking a key) and then refused: a qdisc drop reported by IP_RECVERR.</summary>
    internal void SkipKey() => _nextKey++;

    internal void Add(uint key, long sequence, uint priority, int length, long txTimeNs)
    {
        if (_tail - _head > _mask)
        {
            _head++; // full: the oldest record gives way
            Dropped++;
        }

        _datagrams[(int)(_tail & _mask)] = new Datagram { Sequence = sequence, Priority = priority, Length = length, Key = key, TxTimeNs = txTimeNs };
        _tail++;
    }

    /// <summary>
    /// Copies out, in send order, records whose reports are in (or overdue), up to <paramref name="into"/>'s length. A
    /// record waits for its message's SND report; one older than the timeout goes out incomplete.
    /// </summary>
    internal int Drain(Span<TxTimestamp> into, long nowTick)
    {
        int n = 0;
        while (n < into.Length && _head < _tail)
        {
            ref Datagram d = ref _datagrams[(int)(_head & _mask)];
            ref Message m = ref _messages[(int)(d.Key & (uint)_mask)];
            bool own = m.Registered && m.Key == d.Key;
            if (own && m.SentNs == 0 && m.Drop == TxTimeDrop.None && nowTick - m.SentTick < _timeoutMs)
            {
                break; // still in the qdisc: later records wait behind it, so they come out in send order
            }

            TxTimestamp t = own ? new TxTimestamp(d.Sequence, d.Priority, d.Length, m.ScheduledNs, m.SentNs, m.Count) { TxTimeNs = d.TxTimeNs, TxTimeDrop = m.Drop }
                : new TxTimestamp(d.Sequence, d.Priority, d.Length, 0, 0, 0) { TxTimeNs = d.TxTimeNs };
            if (!t.IsComplete && t.TxTimeDrop == TxTimeDrop.None)
            {
                Missing++;
            }

            into[n++] = t;
            _head++;
        }

        return n;
    }

    /// <summary>Reads every report waiting on the socket's error queue; never blocks. Returns how many were read.</summary>
    internal int Poll(SafeFdHandle socket)
    {
        int total = 0;
        if (_disposed)
        {
            return 0; // the sender is gone: what was read stays drainable
        }

        while (true)
        {
            for (int i = 0; i < ReadBatch; i++)
            {
                _msgs[i].Hdr.Control = _control + (i * ControlBytes);
                _msgs[i].Hdr.ControlLen = ControlBytes;
                _msgs[i].Hdr.Flags = 0;
            }

            int got = Interop.Sys.RecvMMsg(socket, _msgs, ReadBatch, Interop.MSG_ERRQUEUE | Interop.MSG_DONTWAIT, null);
            if (got <= 0)
            {
                return total; // EAGAIN: the queue is empty
            }

            for (int i = 0; i < got; i++)
            {
                Read(&_msgs[i].Hdr);
            }

            total += got;
            if (got < ReadBatch)
            {
                return total;
            }
        }
    }

    // One error-queue message: the SCM_TIMESTAMPING cmsg (ts[0] is the software stamp) and the IP_RECVERR cmsg whose
    // sock_extended_err says which stamp (ee_info) of which message (ee_data). ICMP errors (IP_RECVERR) are skipped.
    private void Read(Interop.MsgHdr* h)
    {
        byte* p = (byte*)h->Control;
        long length = (long)h->ControlLen;
        long ns = 0;
        int type = -1;
        uint key = 0;
        Interop.SockExtendedErr* txTimeError = null;
        for (long offset = 0; offset + Interop.CMsgHdrSize <= length;)
        {
            var c = (Interop.CMsgHdr*)(p + offset);
            if ((long)c->Len < Interop.CMsgHdrSize || offset + (long)c->Len > length)
            {
                break;
            }

            byte* data = p + offset + Interop.CMsgHdrSize;
            if (c->Level == Interop.SOL_SOCKET && c->Type is Interop.SO_TIMESTAMPING or Interop.SO_TIMESTAMPING_NEW
                && (long)c->Len >= Interop.CMsgHdrSize + (3 * sizeof(Interop.TimeSpec)))
            {
                var ts = (Interop.TimeSpec*)data;
                ns = (ts->Sec * 1_000_000_000L) + ts->NSec;
            }
            else if ((c->Level == Interop.SOL_IP && c->Type == Interop.IP_RECVERR) || (c->Level == Interop.SOL_IPV6 && c->Type == Interop.IPV6_RECVERR))
            {
                var e = (Interop.SockExtendedErr*)data;
                if (e->Origin == Interop.SO_EE_ORIGIN_TIMESTAMPING)
                {
                    type = (int)e->Info;
                    key = e->Data;
                }
                else if (e->Origin == Interop.SO_EE_ORIGIN_TXTIME)
                {
                    txTimeError = e;
                }
            }

            offset += Interop.CMsgAlign((int)c->Len);
        }

        if (ns != 0 && type >= 0)
        {
            Stamp(key, type, ns);
        }
        else if (txTimeError != null)
        {
            // etf's report names the datagram by its launch time: ee_data is the high half, ee_info the low.
            TxTimeDrop why = txTimeError->Code == Interop.SO_EE_CODE_TXTIME_INVALID_PARAM ? TxTimeDrop.InvalidParameter : TxTimeDrop.Missed;
            if (why == TxTimeDrop.Missed || !_refusalsFail)
            {
                DropByTxTime((long)(((ulong)txTimeError->Data << 32) | txTimeError->Info), why);
            }
        }
    }

    // Marks the newest registered message with this launch time, not yet sent, as dropped. etf reports at enqueue (a
    // time already past; under IP_RECVERR the send call itself fails instead and the report is skipped) or when the
    // deadline passes in the qdisc, so the message is recent: the search looks back at most
    // SearchBack keys. A report read before its message is registered (a drainer on another thread) finds nothing;
    // that record then comes out incomplete after the timeout.
    private void DropByTxTime(long txTimeNs, TxTimeDrop why)
    {
        const int SearchBack = 4096;
        uint key = _nextKey;
        for (int i = 0; i < SearchBack && i <= _mask; i++)
        {
            ref Message m = ref _messages[(int)(--key & (uint)_mask)];
            if (m.Key == key && m.Registered && m.TxTimeNs == txTimeNs && m.SentNs == 0 && m.Drop == TxTimeDrop.None)
            {
                m.Drop = why;
                return;
            }
        }
    }

    private void Stamp(uint key, int type, long ns)
    {
        ref Message m = ref _messages[(int)(key & (uint)_mask)];
        if (m.Key != key || !m.Registered)
        {
            // Reports come as soon as the kernel has the message, possibly before the sending thread registers it
            // (another thread drains meanwhile): one for a key not yet given out is kept for it.
            if ((uint)(key - _nextKey) > (uint)_mask)
            {
                return; // a key skipped (a dropped message), or one whose records already fell out
            }

            if (m.Key != key || m.Registered)
            {
                m = new Message { Key = key };
            }
        }

        if (type == Interop.SCM_TSTAMP_SCHED)
        {
            m.ScheduledNs = ns;
        }
        else if (type == Interop.SCM_TSTAMP_SND)
        {
            m.SentNs = ns;
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        NativeMemory.Free(_msgs);
        NativeMemory.Free(_control);
    }

    private struct Datagram
    {
        public long Sequence;
        public uint Priority;
        public int Length;
        public uint Key;
        public long TxTimeNs;
    }

    private struct Message
    {
        public long ScheduledNs;
        public long SentNs;
        public long SentTick;
        public long TxTimeNs;
        public TxTimeDrop Drop;
        public uint Key;
        public int Count;
        public bool Registered;
    }
}
