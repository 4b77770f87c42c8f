using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>What a <see cref="LifetimeGate"/> tears down: the owner's sockets and native memory.</summary>
internal interface IGateOwner
{
    /// <summary>Releases everything; called exactly once, with no call running and nothing handed out.</summary>
    /// <param name="finalSend">Whether queued work may still be sent first (false when the last call was a flush).</param>
    void Teardown(bool finalSend);
}

/// <summary>
/// One caller at a time, and a <see cref="Dispose"/> from any thread at any moment. The owner's native memory is torn
/// down by whoever comes last: Dispose itself when nothing runs, otherwise the running call on its way out, or the next
/// call where memory was handed out between calls (a reserved slot, a received batch). So no call ever runs on freed
/// memory, and no span the owner handed out points into it while its holder may still use it.
/// </summary>
internal sealed class LifetimeGate
{
    private const int Busy = 1;      // a call is running
    private const int Held = 2;      // memory is handed out between calls
    private const int Requested = 4; // Dispose came while Busy or Held
    private const int Done = 8;      // torn down

    private readonly IGateOwner _owner;
    private int _state;
    private int _holder; // the managed thread that took the hold
    private bool _tearingDown; // the owner's own final send runs: its waits are the teardown's, not to be cut short

    internal LifetimeGate(IGateOwner owner) => _owner = owner;

    /// <summary>Whether Dispose has been asked for (a waiting call stops waiting).</summary>
    internal bool DisposeRequested => (Volatile.Read(ref _state) & (Requested | Done)) != 0 && !_tearingDown;

    /// <summary>Enters a call.</summary>
    /// <exception cref="ObjectDisposedException">Dispose was asked for (the gate tears down first if a hold kept it).</exception>
    /// <exception cref="InvalidOperationException">Another call is running.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Enter()
    {
        int s = Volatile.Read(ref _state);
        if ((s & (Busy | Requested | Done)) != 0 || Interlocked.CompareExchange(ref _state, s | Busy, s) != s)
        {
            EnterSlow();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterSlow()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & (Requested | Done)) != 0)
            {
                // Dispose came while memory was handed out: this call is the next one, so the holder is done with it.
                if (s == (Held | Requested) && Interlocked.CompareExchange(ref _state, Busy | Requested, s) == s)
                {
                    TearDown(finalSend: true);
                }

                ThrowHelper.ThrowObjectDisposed(_owner);
            }

            if ((s & Busy) != 0)
            {
                ThrowHelper.ThrowInvalidOperation("Another call is running on this object; it is driven by one caller at a time.");
            }

            if (Interlocked.CompareExchange(ref _state, s | Busy, s) == s)
            {
                return;
            }
        }
    }

    /// <summary>Leaves a call, keeping any hold as it was. Tears down if Dispose came meanwhile.</summary>
    /// <param name="finalSend">Passed to the teardown: false after a flush, which was the last attempt already.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Exit(bool finalSend = true)
    {
        int s = Volatile.Read(ref _state);
        if ((s & Requested) != 0 || Interlocked.CompareExchange(ref _state, s & ~Busy, s) != s)
        {
            ExitSlow(s & Held, finalSend);
        }
    }

    /// <summary>Leaves a call that handed memory out: it stays mapped until the next call (or a Dispose on this thread).</summary>
    /// <exception cref="ObjectDisposedException">Dispose came during the call: torn down, nothing handed out.</exception>
    internal void ExitHolding()
    {
        _holder = Environment.CurrentManagedThreadId;
        int s = Volatile.Read(ref _state);
        if ((s & Requested) != 0 || Interlocked.CompareExchange(ref _state, (s & ~Busy) | Held, s) != s)
        {
            ExitSlow(Held, finalSend: true);
            ThrowHelper.ThrowObjectDisposed(_owner);
        }
    }

    /// <summary>Leaves a call that took back what was handed out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ExitReleasing()
    {
        int s = Volatile.Read(ref _state);
        if ((s & Requested) != 0 || Interlocked.CompareExchange(ref _state, s & ~(Busy | Held), s) != s)
        {
            ExitSlow(0, finalSend: true);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExitSlow(int held, bool finalSend)
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & Requested) != 0)
            {
                // Only Busy callers and Dispose change a Busy state, and Dispose leaves it to us once it asked.
                Volatile.Write(ref _state, Busy | Requested);
                TearDown(finalSend);
                return;
            }

            if (Interlocked.CompareExchange(ref _state, (s & ~(Busy | Held)) | held, s) == s)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Tears down now where nothing runs and nothing is handed out to another thread; otherwise asks the running call,
    /// or the next one, to do it. Idempotent.
    /// </summary>
    /// <returns>True where a call is running and will tear down on its way out (its waits should end now).</returns>
    internal bool Dispose()
    {
        while (true)
        {
            int s = Volatile.Read(ref _state);
            if ((s & (Requested | Done)) != 0)
            {
                return false;
            }

            // A hold taken on this thread: the holder is the caller of Dispose, so it is done with what it held.
            bool free = s == 0 || (s == Held && _holder == Environment.CurrentManagedThreadId);
            if (free)
            {
                if (Interlocked.CompareExchange(ref _state, Busy | Requested, s) == s)
                {
                    TearDown(finalSend: true);
                    return false;
                }
            }
            else if (Interlocked.CompareExchange(ref _state, s | Requested, s) == s)
            {
                return (s & Busy) != 0;
            }
        }
    }

    private void TearDown(bool finalSend)
    {
        _tearingDown = true;
        try
        {
            _owner.Teardown(finalSend);
        }
        finally
        {
            Volatile.Write(ref _state, Done);
        }
    }
}
