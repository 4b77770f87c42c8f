using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>Sends a planned run of messages with one sendmmsg(2) call.</summary>
internal sealed unsafe class SendmmsgBackend : SendBackend
{
    private readonly bool _enobufsIsDrop;
    private readonly int _maxMessages;

    /// <param name="enobufsIsDrop">IP_RECVERR is on: ENOBUFS reports a datagram the qdisc dropped, its own result, not back-pressure.</param>
    /// <param name="timestamps">
    /// TxTimestamps is on too. A qdisc drop of a message after the first of a call is hidden by the short count, yet
    /// its skb took an OPT_ID key; the message then goes again under the next key, and every later message's
    /// timestamps would belong to its neighbour. One message per call makes each drop an ENOBUFS of its own.
    /// </param>
    internal SendmmsgBackend(bool enobufsIsDrop = false, bool timestamps = false)
    {
        _enobufsIsDrop = enobufsIsDrop;
        _maxMessages = enobufsIsDrop && timestamps ? 1 : int.MaxValue;
    }

    internal override string Name => "sendmmsg";

    internal override SendBackendKind Kind => SendBackendKind.Sendmmsg;

    internal override int Send(SafeFdHandle socket, Interop.MMsgHdr* msgs, int count, Span<int> results, out int wouldBlockErrno)
    {
        wouldBlockErrno = 0;
        count = Math.Min(count, _maxMessages);
        while (true)
        {
            int n = Interop.Sys.SendMMsg(socket, msgs, (uint)count, Interop.MSG_DONTWAIT);
            if (n > 0)
            {
                // A short count hides the error of message n (KERNEL-NOTES); the caller resumes at n and the next call reports it.
                results[..n].Clear();
                return n;
            }

            int errno = n == 0 ? Errno.EAGAIN : Marshal.GetLastPInvokeError();
            switch (errno)
            {
                case Errno.EINTR:
                    continue;
                case Errno.EAGAIN:
                case Errno.ENOBUFS when !_enobufsIsDrop:
                    wouldBlockErrno = errno;
                    return 0;
                default:
                    // -1 with any other errno belongs to the first message alone: record it, the rest goes on.
                    results[0] = errno;
                    return 1;
            }
        }
    }

    public override void Dispose()
    {
        // Owns nothing: the sender owns the sockets, the ring and the plan.
    }
}
