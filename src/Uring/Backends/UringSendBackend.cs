using System.Diagnostics.CodeAnalysis;
using Perf.Batch;
using static Perf.Uring.Interop;
using static Perf.Uring.Interop.Uring;

namespace Perf.Uring;

/// <summary>
/// Sends a run of slots as one IORING_OP_SENDMSG SQE each, pointing at the slot's existing msghdr (so its SO_PRIORITY
/// cmsg goes along), submitted with one io_uring_enter.
/// </summary>
/// <remarks>
/// <para>Order and an exact result per datagram, as sendmmsg gives them, without paying for links where they buy
/// nothing. Every SQE carries MSG_DONTWAIT, and SQEs are issued in order during io_uring_enter. Only back-pressure
/// (EAGAIN) can make a later SQE succeed after an earlier one did not, so the SQEs that cannot meet a full send buffer
/// go unlinked: before each call the backend reads how much of the socket's send buffer is in use (SIOCOUTQ) and leaves
/// unlinked the leading SQEs whose datagrams fit in what is free, counted at a conservative truesize. The rest are
/// linked (IOSQE_IO_LINK): the first failure there cancels the ones after it, which come back ECANCELED and are
/// resubmitted by the send loop. A failure other than back-pressure (EPERM) ends only its own datagram, linked or not.
/// Linking every SQE cost about 10% per datagram (bench/results).</para>
/// <para>Each call waits for every CQE of its run, and for zero-copy sends every notification CQE too, before it returns:
/// no request outlives the call, so the slots and the rings are never freed while the kernel may touch them, and
/// Dispose has nothing in flight to wait for or cancel.</para>
/// </remarks>
internal sealed unsafe class UringSendBackend : SendBackend
{
    private readonly SafeFdHandle _socket;
    private readonly UringRing _ring;
    private readonly bool _fixedFile;
    private readonly byte _opcode;
    private readonly int[] _res;
    private readonly byte[] _notif;    // zero copy, per SQE of the run: NotifOwed, NotifArrived or both
    private readonly int _sendBuffer;  // SO_SNDBUF as the kernel keeps it (doubled), the bound EAGAIN comes from
    private int _boundFd = -1;         // the socket _bound belongs to
    private long _bound;               // upper bound of what that socket has charged (see UnlinkedPrefix)
    private bool _linkAll;             // back-pressure met an unlinked SQE after all: link everything until a clean call
    private readonly bool _enobufsIsDrop; // IP_RECVERR: ENOBUFS is a datagram the qdisc dropped, not back-pressure
    private readonly Interop.IoUringCqe[] _cqes;
    private uint _generation;

    internal UringSendBackend(SafeFdHandle socket, int sendBufferBytes, PacketSenderOptions options)
    {
        IoUringOptions o = options.IoUring;
        uint entries = System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(8, options.BatchSize));
        uint flags = o.SqPoll ? IORING_SETUP_SQPOLL
            : o.SingleIssuer ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
            : IORING_SETUP_COOP_TASKRUN;
        _ring = new UringRing(entries, flags | IORING_SETUP_SUBMIT_ALL, (uint)o.SqPollIdleMs);
        try
        {
            if (!_ring.Supports(IORING_OP_SENDMSG))
            {
                ThrowHelperUring.Throw("IORING_REGISTER_PROBE", Errno.EOPNOTSUPP, "This kernel's io_uring lacks IORING_OP_SENDMSG.");
            }

            if (o.ZeroCopy && !_ring.Supports(IORING_OP_SENDMSG_ZC))
            {
                ThrowHelperUring.Throw("IORING_REGISTER_PROBE", Errno.EOPNOTSUPP, "This kernel's io_uring lacks IORING_OP_SENDMSG_ZC (Linux 6.1+).");
            }

            if (o.RegisteredFile)
            {
                _ring.RegisterFile(socket.Fd);
            }

            if (o.RegisteredRing)
            {
                _ring.RegisterRingOnFirstSubmit();
            }
        }
        catch
        {
            _ring.Dispose();
            throw;
        }

        _socket = socket;
        _fixedFile = o.RegisteredFile;
        _opcode = o.ZeroCopy ? IORING_OP_SENDMSG_ZC : IORING_OP_SENDMSG;
        _res = new int[entries];
        _notif = new byte[entries];
        _sendBuffer = sendBufferBytes;
        _enobufsIsDrop = options.ReportQdiscDrops;
        _cqes = new Interop.IoUringCqe[_ring.CqEntries];
    }

    internal override string Name => "io_uring";

    /// <summary>SQEs submitted without a link: the send buffer had room for them (see <see cref="UnlinkedPrefix"/>).</summary>
    internal long UnlinkedSqes { get; private set; }

    /// <summary>SQEs submitted linked, to keep order and per-datagram results under back-pressure.</summary>
    internal long LinkedSqes { get; private set; }

    internal override SendBackendKind Kind => SendBackendKind.IoUring;

    // SENDMSG_ZC pins a GSO run's pages as skb frags (MAX_SKB_FRAGS, 17 by default). A run over more pages fails with
    // EMSGSIZE on 6.12, and on 6.1 and 6.18 falls back to a copy that lost and duplicated datagrams of runs over grouped
    // (non-contiguous) slots: such runs are capped at 16 segments and 17 pages.
    internal override int MaxSegments => _opcode == IORING_OP_SENDMSG_ZC ? 16 : 0;

    internal override int MaxPages => _opcode == IORING_OP_SENDMSG_ZC ? 17 : 0;

    internal override int Send(SafeFdHandle socket, Batch.Interop.MMsgHdr* msgs, int count, Span<int> results, out int wouldBlockErrno)
    {
        count = Math.Min(count, (int)_ring.SqEntries);
        int unlinked = SubmitRun(socket, msgs, count);
        return Results(count, unlinked, results, out wouldBlockErrno);
    }

    // One SQE per message, the first `unlinked` of them unlinked and the rest linked (IOSQE_IO_LINK), submitted and
    // reaped in one io_uring_enter. Returns how many went unlinked.
    private int SubmitRun(SafeFdHandle socket, Batch.Interop.MMsgHdr* msgs, int count)
    {
        // The registered file is the sender's own socket; a SocketPerPriority pool socket goes by its raw fd.
        bool fixedFile = _fixedFile && ReferenceEquals(socket, _socket);
        uint gen = ++_generation;
        bool added = false;
        int unlinked = 0;
        try
        {
            // Safety: the SQEs carry the raw fd (unless registered); the ref keeps it open until the last CQE is reaped below.
            socket.DangerousAddRef(ref added);
            if (_linkAll)
            {
                _boundFd = -1; // linked sends are not counted into the bound: read SIOCOUTQ again next time
            }
            else
            {
                unlinked = UnlinkedPrefix(socket.Fd, msgs, count);
            }

            UnlinkedSqes += unlinked;
            LinkedSqes += count - unlinked;
            for (int i = 0; i < count; i++)
            {
                // The SQ holds a whole run: count <= SqEntries and every earlier run was reaped.
                Interop.IoUringSqe* sqe = _ring.NextSqe();
                if (sqe == null)
                {
                    ThrowSqFull();
                }

                sqe->Opcode = _opcode;
                sqe->Fd = fixedFile ? 0 : socket.Fd;
                sqe->Flags = (byte)((fixedFile ? IOSQE_FIXED_FILE : 0) | (i >= unlinked && i < count - 1 ? IOSQE_IO_LINK : 0));
                sqe->Addr = (ulong)&msgs[i].Hdr;
                sqe->Len = 1;
                sqe->MsgFlags = Batch.Interop.MSG_DONTWAIT;
                sqe->UserData = ((ulong)gen << 32) | (uint)i;
            }

            _ring.SubmitAndWait((uint)count);
            ReapRun(gen, count);
        }
        finally
        {
            if (added)
            {
                socket.DangerousRelease();
            }
        }

        return unlinked;
    }

    // Results in order. Unlinked SQEs end each on its own; in the linked tail the first failure cancels the rest.
    private int Results(int count, int unlinked, Span<int> results, out int wouldBlockErrno)
    {
        wouldBlockErrno = 0;
        bool clean = true;
        for (int i = 0; i < count; i++)
        {
            int r = _res[i];
            if (r >= 0)
            {
                results[i] = SendBackend.Sent;
                continue;
            }

            int errno = -r;
            if (errno == Errno.EAGAIN || (errno == Errno.ENOBUFS && !_enobufsIsDrop))
            {
                if (i >= unlinked || !LaterSucceeded(i + 1, count))
                {
                    // Nothing after it went out: stop here, the caller waits and resubmits from this one.
                    _linkAll = i < unlinked;
                    wouldBlockErrno = i == 0 ? errno : 0;
                    return i;
                }

                // An unlinked SQE met back-pressure the estimate did not foresee while a later one went out: sending it
                // again would break the order, so it ends here with its errno, and every SQE is linked until a call
                // completes clean.
                _linkAll = true;
                clean = false;
                results[i] = errno;
                continue;
            }

            if (errno == Errno.ECANCELED)
            {
                return i; // cancelled by an earlier link failure; resubmitted by the caller
            }

            results[i] = errno;
            if (i >= unlinked)
            {
                return i + 1; // a linked failure: the rest of the chain was cancelled
            }
        }

        if (clean)
        {
            _linkAll = false;
        }

        return count;
    }

    private bool LaterSucceeded(int from, int count)
    {
        for (int j = from; j < count; j++)
        {
            if (_res[j] >= 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// How many leading messages cannot meet EAGAIN: sock_alloc_send_pskb refuses only while the socket's charged memory
    /// (SIOCOUTQ for UDP) is at or above SO_SNDBUF, so message i is safe while what is charged before it stays below.
    /// Each message counts at twice its length plus 1 KiB, above its skb's truesize (data, sk_buff, shared info).
    /// </summary>
    /// <remarks>
    /// SIOCOUTQ is one more syscall per call, which the C reference does not make. Charged memory only falls between
    /// calls, and only this sender sends on its socket, so the reading plus every message counted since is an upper
    /// bound: while that bound and this call stay under SO_SNDBUF, no new reading is needed.
    /// </remarks>
    private int UnlinkedPrefix(int fd, Batch.Interop.MMsgHdr* msgs, int count)
    {
        if (fd == _boundFd)
        {
            long bound = _bound;
            for (int i = 0; i < count; i++)
            {
                bound += Charge(ref msgs[i].Hdr);
            }

            if (bound < _sendBuffer)
            {
                _bound = bound;
                return count;
            }
        }

        int queued;
        if (Ioctl(fd, SIOCOUTQ, &queued) != 0)
        {
            _boundFd = -1;
            return 0;
        }

        long charged = queued;
        int safe = count;
        for (int i = 0; i < count; i++)
        {
            if (charged >= _sendBuffer && safe == count)
            {
                safe = i;
            }

            charged += Charge(ref msgs[i].Hdr);
        }

        _boundFd = fd;
        _bound = charged;
        return safe;
    }

    private static long Charge(ref Batch.Interop.MsgHdr h)
    {
        long length = 0;
        for (nuint k = 0; k < h.IovLen; k++)
        {
            length += (long)h.Iov[k].Length;
        }

        return (2 * length) + 1024;
    }

    private const byte NotifOwed = 1;
    private const byte NotifArrived = 2;

    /// <summary>Reaps until every SQE of the run has its result and every zero-copy notification has arrived.</summary>
    /// <remarks>
    /// Notifications are matched per SQE, not counted: on 6.12 a zero-copy SQE cancelled by a failed link completes
    /// without IORING_CQE_F_MORE (6.18 sets it) and still posts its notification, so a plain count went negative and
    /// the wait never ended. Such an SQE owes a notification all the same: its notif was allocated at prep and is flushed
    /// when the request is cleaned up.
    /// </remarks>
    private void ReapRun(uint gen, int count)
    {
        int results = 0;
        int owed = 0;
        bool zeroCopy = _opcode == IORING_OP_SENDMSG_ZC;
        if (zeroCopy)
        {
            Array.Clear(_notif, 0, count);
        }

        Span<Interop.IoUringCqe> cqes = _cqes;
        while (true)
        {
            int n = _ring.Reap(cqes);
            for (int k = 0; k < n; k++)
            {
                ref Interop.IoUringCqe c = ref cqes[k];
                if ((uint)(c.UserData >> 32) != gen)
                {
                    ThrowStale(c.UserData, gen);
                }

                int i = (int)(uint)c.UserData;
                if ((c.Flags & IORING_CQE_F_NOTIF) != 0)
                {
                    // The kernel is done with the slot's pages.
                    if (_notif[i] == NotifOwed)
                    {
                        owed--;
                    }

                    _notif[i] |= NotifArrived;
                    continue;
                }

                if ((c.Flags & IORING_CQE_F_MORE) != 0 || (zeroCopy && c.Res == -Errno.ECANCELED))
                {
                    if (_notif[i] == 0)
                    {
                        owed++;
                    }

                    _notif[i] |= NotifOwed;
                }

                _res[i] = c.Res;
                results++;
            }

            if (results == count && owed == 0)
            {
                return;
            }

            if (n == 0 || _ring.CqOverflowed)
            {
                _ring.WaitForCompletion();
            }
        }
    }

    [DoesNotReturn]
    private static void ThrowSqFull() =>
        throw new InvalidOperationException("io_uring: the submission queue stayed full for a second after every earlier request completed; the SQ thread is not consuming it.");

    private static void ThrowStale(ulong userData, uint gen) =>
        throw new InvalidOperationException("io_uring: a completion of generation " + (userData >> 32) + " arrived during generation " + gen + "; a slot would have been reused too early.");

    public override void Dispose() => _ring.Dispose();
}
