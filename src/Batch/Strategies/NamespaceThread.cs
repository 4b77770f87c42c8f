using System.Runtime.InteropServices;

namespace Perf.Batch;

/// <summary>
/// Runs code on a fresh thread inside a network namespace (setns, CAP_SYS_ADMIN): a socket keeps the namespace it was
/// made in for life. The SocketPerPriority pool makes its sockets in the sender's namespace this way, whichever thread
/// flushes; Perf.Host's NetworkNamespace.Run does it for a named one.
/// </summary>
internal static class NamespaceThread
{
    /// <summary>Runs <paramref name="create"/> on a fresh thread that has entered the namespace <paramref name="ns"/> refers to.</summary>
    internal static T Run<T>(SafeHandle ns, string what, Func<T> create)
    {
        T result = default!;
        Exception? error = null;
        // The thread ends afterwards, so no pooled thread is ever left in another namespace.
        var thread = new Thread(() =>
        {
            try
            {
                if (Interop.Sys.SetNs(ns, Interop.CLONE_NEWNET) != 0)
                {
                    ThrowHelper.ThrowSocket("setns(" + what + ", CLONE_NEWNET)", Marshal.GetLastPInvokeError());
                }

                result = create();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        { Name = "perf netns" };
        thread.Start();
        thread.Join();
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }

        return result;
    }
}
