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
/// <remarks>
/// The calls pay no atomic instruction: a call announces itself with a plain store (<c>_busy</c>) and then reads
/// <c>_requested</c>; Dispose stores <c>_requested</c>, issues a process-wide barrier, and only then reads <c>_busy</c>.
/// The barrier makes every thread perform a full fence at some point of its own (the .NET memory model's process-wide
/// barrier; membarrier(2) on Linux), so either the call sees the request or Dispose sees the call, never neither: the
/// asymmetric Dekker pattern, the cost moved onto the rare side. Who tears down is settled by one CAS
/// (<c>_claimed</c>), so it happens once. Two calls at once are the caller's bug; the check for it is best effort.
/// </remarks>
internal sealed class LifetimeGate
{
    private readonly IGateOwner _owner;
    private int _busy;      // a call is running: written by the calling thread only
    private int _held;      // memory is handed out between calls: written by the calling thread only
    private int _holder;    // the managed thread that took the hold
    private int _requested; // Dispose was asked for: written once, by Dispose
    private int _claimed;   // someone tears down (or did)
    private bool _tearingDown; // the owner's own final send runs: its waits are the teardown's, not to be cut short

    internal LifetimeGate(IGateOwner owner) => _owner = owner;

    /// <summary>Whether Dispose has been asked for (a waiting call stops waiting).</summary>
    internal bool DisposeRequested => Volatile.Read(ref _requested) != 0 && !_tearingDown;

    /// <summary>Enters a call.</summary>
    /// <exception cref="ObjectDisposedException">Dispose was asked for (the gate tears down first if a hold kept it).</exception>
    /// <exception cref="InvalidOperationException">Another call is running (best effort: not every race is caught).</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Enter()
    {
        if (_busy != 0)
        {
            ThrowConcurrent();
        }

        Volatile.Write(ref _busy, 1);
        if (Volatile.Read(ref _requested) != 0)
        {
            EnterDisposed();
        }
    }

    // Dispose was asked for. Where it found a hold (or this call), it left the teardown to the next call: this one,
    // whose caller is done with what it held. Either way this call touches nothing.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterDisposed()
    {
        Volatile.Write(ref _held, 0);
        Volatile.Write(ref _busy, 0);
        TryTearDown(finalSend: true);
        ThrowHelper.ThrowObjectDisposed(_owner);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowConcurrent() =>
        ThrowHelper.ThrowInvalidOperation("Another call is running on this object; it is driven by one caller at a time.");

    /// <summary>Leaves a call, keeping any hold as it was. Tears down if Dispose came meanwhile.</summary>
    /// <param name="finalSend">Passed to the teardown: false after a flush, which was the last attempt already.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Exit(bool finalSend = true)
    {
        Volatile.Write(ref _busy, 0);
        if (Volatile.Read(ref _requested) != 0)
        {
            ExitDisposed(finalSend);
        }
    }

    /// <summary>Leaves a call that handed memory out: it stays mapped until the next call (or a Dispose on this thread).</summary>
    /// <exception cref="ObjectDisposedException">Dispose came during the call: torn down, nothing handed out.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ExitHolding()
    {
        _holder = Environment.CurrentManagedThreadId;
        Volatile.Write(ref _held, 1); // before _busy clears: a Dispose that sees the call gone sees the hold
        Volatile.Write(ref _busy, 0);
        if (Volatile.Read(ref _requested) != 0)
        {
            ExitHoldingDisposed();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExitHoldingDisposed()
    {
        ExitDisposed(finalSend: true);
        ThrowHelper.ThrowObjectDisposed(_owner);
    }

    /// <summary>Leaves a call that took back what was handed out.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void ExitReleasing()
    {
        Volatile.Write(ref _held, 0);
        Volatile.Write(ref _busy, 0);
        if (Volatile.Read(ref _requested) != 0)
        {
            ExitDisposed(finalSend: true);
        }
    }

    // Dispose came while this call ran: it saw the call (and left the teardown to it) or it saw nothing and tore down
    // itself; the CAS in TryTearDown settles which. The caller is done with any hold.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExitDisposed(bool finalSend)
    {
        Volatile.Write(ref _held, 0);
        TryTearDown(finalSend);
    }

    /// <summary>
    /// Tears down now where nothing runs and nothing is handed out to another thread; otherwise asks the running call,
    /// or the next one, to do it. Idempotent.
    /// </summary>
    /// <returns>True where a call is running and will tear down on its way out (its waits should end now).</returns>
    internal bool Dispose()
    {
        if (Interlocked.Exchange(ref _requested, 1) != 0)
        {
            return false;
        }

        // Safety: after this barrier a call either sees _requested (and touches nothing more than its own exit) or has
        // already published _busy (or _held), which the reads below see.
        Interlocked.MemoryBarrierProcessWide();
        if (Volatile.Read(ref _busy) != 0)
        {
            return true;
        }

        // A hold taken on this thread: the holder is the caller of Dispose, so it is done with what it held.
        if (Volatile.Read(ref _held) != 0 && _holder != Environment.CurrentManagedThreadId)
        {
            return false;
        }

        TryTearDown(finalSend: true);
        return false;
    }

    private void TryTearDown(bool finalSend)
    {
        if (Interlocked.CompareExchange(ref _claimed, 1, 0) != 0)
        {
            return;
        }

        _tearingDown = true;
        try
        {
            _owner.Teardown(finalSend);
        }
        finally
        {
            _tearingDown = false;
        }
    }
}
