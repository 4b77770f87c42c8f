using System.Runtime.CompilerServices;

namespace Perf.Batch;

// Forwarding that holds no thread while it waits for input or for the kernel to take more.
public sealed partial class PacketForwarder
{
    /// <summary>
    /// Forwards until <paramref name="cancellationToken"/> is cancelled, then flushes what is queued. Waits for input
    /// (<see cref="PacketReceiver.ReceiveAsync"/>) and for back-pressure to clear (<see cref="PacketSender.FlushAsync"/>)
    /// without holding a thread; steady-state forwarding allocates nothing. Completes normally on cancellation.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask RunAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                await RunOnceAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the wait for input was cancelled: nothing of this batch was read
        }

        await _output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        int n = await _input.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        int i = ForwardBatch(0, n);
        while (i < n)
        {
            if (!await FlushOrCancelAsync(cancellationToken).ConfigureAwait(false))
            {
                DropRest(i, n);
                break;
            }

            i = ForwardBatch(i, n);
        }

        // Every datagram of the batch ends before the next receive reuses its buffer.
        while (_output.PendingCount > 0)
        {
            if (!await FlushOrCancelAsync(cancellationToken).ConfigureAwait(false))
            {
                _output.FailQueued(Errno.ECANCELED);
                break;
            }
        }

        return n;
    }

    /// <summary>One async flush; false once cancellation is requested (the flush itself then stops waiting).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FlushOrCancelAsync(CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        try
        {
            await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
