using System.Runtime.InteropServices;
using Perf.Batch;
using static Perf.Uring.Interop;
using static Perf.Uring.Interop.Uring;

namespace Perf.Uring;

internal sealed unsafe partial class UringRing
{
    /// <summary>Returns the next free SQE, zeroed, or null when the SQ is full.</summary>
    internal IoUringSqe* NextSqe()
    {
        uint head = SqPoll ? LoadAcquire(_sqHead) : *_sqHead; // with SQPOLL the kernel thread moves head concurrently
        if (_sqTailLocal - head >= SqEntries && !(SqPoll && WaitForSqHead()))
        {
            return null;
        }

        IoUringSqe* sqe = &_sqes[_sqTailLocal & _sqMask];
        *sqe = default;
        _sqTailLocal++;
        return sqe;
    }

    /// <summary>
    /// The SQ thread posts a batch's completions before it commits the SQ head (io_submit_sqes), so a caller that reaped
    /// every CQE can still find the SQ full for a moment (seen under the kernel lab's emulated CPU). The head moves
    /// without any call from us; wait for it, within a second.
    /// </summary>
    private bool WaitForSqHead()
    {
        long deadline = Environment.TickCount64 + 1000;
        var spin = default(SpinWait);
        while (_sqTailLocal - LoadAcquire(_sqHead) >= SqEntries)
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            spin.SpinOnce();
        }

        return true;
    }

    /// <summary>
    /// Publishes the SQEs written since the last call (release store of the tail), submits them and waits for
    /// <paramref name="waitFor"/> completions. EINTR retries with what the kernel has not consumed yet.
    /// </summary>
    internal void SubmitAndWait(uint waitFor)
    {
        StoreRelease(_sqTail, _sqTailLocal);
        uint flags = waitFor > 0 ? IORING_ENTER_GETEVENTS : 0;
        if (SqPoll)
        {
            // The SQ thread may be asleep: a full barrier between the tail store and the flags load (liburing sq_ring_needs_enter).
            Interlocked.MemoryBarrier();
            if ((LoadAcquire(_sqFlags) & IORING_SQ_NEED_WAKEUP) != 0)
            {
                flags |= IORING_ENTER_SQ_WAKEUP;
            }

            if (flags == 0)
            {
                return;
            }
        }

        (int target, uint registered) = EnterTarget();
        while (true)
        {
            uint toSubmit = SqPoll ? 0 : _sqTailLocal - LoadAcquire(_sqHead);
            int rc = Enter(target, toSubmit, waitFor, flags | registered);
            if (rc >= 0)
            {
                return;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EINTR)
            {
                continue;
            }

            // EBUSY: completions are backed up (CQ overflow). Waiting for events flushes them into the CQ.
            if (errno == Errno.EBUSY || errno == Errno.EAGAIN)
            {
                flags |= IORING_ENTER_GETEVENTS;
                continue;
            }

            ThrowHelperUring.Throw("io_uring_enter", errno);
        }
    }

    /// <summary>Copies out up to <paramref name="dst"/>.Length CQEs and advances the CQ head (release store).</summary>
    internal int Reap(Span<IoUringCqe> dst)
    {
        uint head = *_cqHead;
        uint tail = LoadAcquire(_cqTail);
        int n = 0;
        while (head != tail && n < dst.Length)
        {
            dst[n++] = _cqes[head & _cqMask];
            head++;
        }

        StoreRelease(_cqHead, head);
        return n;
    }

    /// <summary>True when the kernel holds completions it could not post (IORING_SQ_CQ_OVERFLOW).</summary>
    internal bool CqOverflowed => (LoadAcquire(_sqFlags) & IORING_SQ_CQ_OVERFLOW) != 0;

    /// <summary>Waits for at least one completion, flushing any overflowed ones into the CQ.</summary>
    internal void WaitForCompletion() => SubmitAndWait(1);
}
