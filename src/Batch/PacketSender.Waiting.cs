using System.Threading.Tasks.Sources;

namespace Perf.Batch;

// Waiting for the kernel to take more: the bound on a flush's wait, and the wait itself.
public sealed partial class PacketSender
{
    // Longest single wait, so a Dispose from another thread or a cancellation is seen promptly.
    private const int WaitSliceMs = 100;

    private readonly WritableWaiter _waiter;

    /// <summary>True while the wait bound allows another wait; progress since the last check restarts the bound.</summary>
    private bool KeepWaiting(ref long progressHead, ref long deadline, out int waitMs)
    {
        long now = Environment.TickCount64;
        if (_head != progressHead)
        {
            progressHead = _head;
            deadline = now + _wouldBlockTimeoutMs;
        }

        long remaining = deadline - now;
        waitMs = (int)Math.Min(remaining, WaitSliceMs);
        return remaining > 0 && Volatile.Read(ref _state) != BusyDisposeRequested;
    }

    /// <summary>A reusable, allocation-free wait for POLLOUT that runs on the thread pool.</summary>
    private sealed class WritableWaiter : IValueTaskSource, IThreadPoolWorkItem
    {
        private SafeFdHandle? _socket;
        private ManualResetValueTaskSourceCore<bool> _core;
        private int _errno;
        private int _timeoutMs;

        internal WritableWaiter() => _core.RunContinuationsAsynchronously = true;

        internal ValueTask WaitAsync(SafeFdHandle socket, int wouldBlockErrno, int timeoutMs)
        {
            _core.Reset();
            _socket = socket;
            _errno = wouldBlockErrno;
            _timeoutMs = timeoutMs;
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            return new ValueTask(this, _core.Version);
        }

        void IThreadPoolWorkItem.Execute()
        {
            try
            {
                Wait(_socket!, _errno, _timeoutMs);
                _core.SetResult(true);
            }
            catch (Exception e)
            {
                _core.SetException(e);
            }
        }

        internal static void Wait(SafeFdHandle socket, int wouldBlockErrno, int timeoutMs)
        {
            // ENOBUFS comes from a qdisc or device queue, not the send buffer, so POLLOUT would return at once: back off instead.
            if (wouldBlockErrno == Errno.ENOBUFS)
            {
                Thread.Sleep(1);
            }
            else
            {
                UdpSocket.Poll(socket, Interop.POLLOUT, timeoutMs);
            }
        }

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
