using System.Runtime.CompilerServices;

namespace Perf.Batch;

// Receiving without holding a thread: a partial of its own because an unsafe context cannot await.
public sealed partial class PacketReceiver
{
    /// <summary>
    /// Takes up to a batch of datagrams with one recvmmsg, waiting for the first without holding any thread (the library's
    /// readiness thread watches the socket). Completes synchronously, without allocating, when datagrams are queued; an
    /// awaited wait allocates nothing either, in steady state.
    /// </summary>
    /// <returns>The number received (at least 1); the datagrams stay valid until the next receive.</returns>
    /// <exception cref="OperationCanceledException">When <paramref name="cancellationToken"/> is cancelled first.</exception>
    /// <exception cref="ObjectDisposedException">When the receiver is disposed, including while the wait lasts.</exception>
    public ValueTask<int> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }

        _gate.Enter();
        int n;
        try
        {
            n = TryReceive();
        }
        catch
        {
            _gate.Exit();
            throw;
        }

        if (n < 0)
        {
            return ReceiveSlowAsync(cancellationToken);
        }

        _gate.ExitHolding();
        return new ValueTask<int>(n);
    }

    // Inside the gate from start to end: a Dispose meanwhile aborts the wait, and this call tears down on its way out.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReceiveSlowAsync(CancellationToken cancellationToken)
    {
        int n;
        try
        {
            do
            {
                await _waiter.WaitAsync(_socket, write: false, Timeout.Infinite, cancellationToken).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (_gate.DisposeRequested)
                {
                    ThrowHelper.ThrowObjectDisposed(this);
                }

                n = TryReceive();
            }
            while (n < 0);
        }
        catch
        {
            _gate.Exit();
            throw;
        }

        _gate.ExitHolding();
        return n;
    }
}
