using System.Threading.Tasks.Sources;

namespace Perf.Batch;

/// <summary>
/// One owner's reusable async wait for a socket to become readable or writable, or for a delay: no thread is held while
/// it lasts (<see cref="ReadinessReactor"/>), and a wait allocates nothing once the timer exists.
/// </summary>
/// <remarks>
/// One wait at a time: the owner awaits each before starting the next. The result is true when the socket reported
/// ready (or failed: the retried syscall says how) and false when the timeout or cancellation ended it. A late event,
/// timer or cancellation from an earlier wait may end a later one early; callers retry their syscall and wait again,
/// so such a wake-up costs one syscall, never a datagram.
/// </remarks>
internal sealed class ReadinessWaiter : IValueTaskSource<bool>
{
    private static readonly TimerCallback s_timedOut = state => ((ReadinessWaiter)state!).Complete(false);
    private static readonly Action<object?> s_cancelled = state => ((ReadinessWaiter)state!).Complete(false);

    private ManualResetValueTaskSourceCore<bool> _core;
    private Timer? _timer;
    private CancellationTokenRegistration _cancellation;
    private int _fd = -1;
    private int _pending;
    private volatile bool _aborted; // sticky: an Abort before the next wait starts still ends it

    internal ReadinessWaiter() => _core.RunContinuationsAsynchronously = true; // never run the owner on the reactor's thread

    /// <summary>Waits until <paramref name="socket"/> is writable (or readable) or <paramref name="timeoutMs"/> passes (-1: no limit).</summary>
    internal ValueTask<bool> WaitAsync(SafeFdHandle socket, bool write, int timeoutMs, CancellationToken cancellationToken)
    {
        if (!Start(timeoutMs, cancellationToken))
        {
            return new ValueTask<bool>(this, _core.Version); // aborted already: the owner's retry says so
        }

        // Safety: the fd number is only a key; if the socket closes meanwhile, the kernel drops it from the set and the
        // wait ends by timeout, cancellation or the owner's Abort.
        _fd = socket.Fd;
        try
        {
            ReadinessReactor.Instance.Arm(_fd, this, write);
        }
        catch (Exception e)
        {
            Fail(e);
        }

        return new ValueTask<bool>(this, _core.Version);
    }

    /// <summary>Waits <paramref name="delayMs"/> (ENOBUFS: the queue that refused is a qdisc's, which no poll reports).</summary>
    internal ValueTask<bool> DelayAsync(int delayMs, CancellationToken cancellationToken)
    {
        Start(delayMs, cancellationToken);
        return new ValueTask<bool>(this, _core.Version); // an aborted start is already complete
    }

    /// <summary>
    /// Ends a wait in progress, and every later one at once, as if the socket were ready (the owner is being disposed:
    /// its retry will say so). An Abort between the owner's last check and its next wait is not lost.
    /// </summary>
    internal void Abort()
    {
        _aborted = true;
        Complete(true);
    }

    internal void Signal() => Complete(true);

    // False where an Abort came first: the wait is already complete.
    private bool Start(int timeoutMs, CancellationToken cancellationToken)
    {
        _core.Reset();
        _fd = -1;
        Interlocked.Exchange(ref _pending, 1); // a full fence before _aborted is read, paired with Abort's exchange
        if (_aborted)
        {
            Complete(true);
            return false;
        }

        if (timeoutMs >= 0)
        {
            (_timer ??= new Timer(s_timedOut, this, Timeout.Infinite, Timeout.Infinite)).Change(timeoutMs, Timeout.Infinite);
        }

        if (cancellationToken.CanBeCanceled)
        {
            _cancellation = cancellationToken.UnsafeRegister(s_cancelled, this);
        }

        return true;
    }

    private void Complete(bool ready)
    {
        if (Interlocked.Exchange(ref _pending, 0) == 0)
        {
            return; // already completed by whichever came first
        }

        Release();
        _core.SetResult(ready);
    }

    private void Fail(Exception e)
    {
        if (Interlocked.Exchange(ref _pending, 0) != 0)
        {
            Release();
            _core.SetException(e);
        }
    }

    private void Release()
    {
        _timer?.Change(Timeout.Infinite, Timeout.Infinite);
        _cancellation.Unregister(); // Unregister, not Dispose: it may run inside the cancellation callback itself
        _cancellation = default;
        if (_fd >= 0)
        {
            ReadinessReactor.Instance.Disarm(_fd, this);
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
