using Microsoft.Win32.SafeHandles;

namespace Perf.Batch;

/// <summary>
/// Creates senders and receivers inside a named network namespace (one made by <c>ip netns add NAME</c>).
/// A socket keeps the namespace it was created in for life, so it can be used from any thread afterwards.
/// </summary>
public static class NetworkNamespace
{
    /// <summary>
    /// Runs <paramref name="create"/> on a fresh thread that has entered <c>/run/netns/<paramref name="name"/></c>
    /// (setns needs CAP_SYS_ADMIN), and returns its result. The thread ends afterwards, so no pooled thread is left
    /// in the namespace.
    /// </summary>
    public static T Run<T>(string name, Func<T> create)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(create);
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                using SafeFileHandle ns = File.OpenHandle("/run/netns/" + name);
                if (Interop.Sys.SetNs(ns, Interop.CLONE_NEWNET) != 0)
                {
                    ThrowHelper.ThrowSocket("setns(/run/netns/" + name + ", CLONE_NEWNET)", System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
                }

                result = create();
            }
            catch (Exception e)
            {
                error = e;
            }
        })
        { Name = "netns " + name };
        thread.Start();
        thread.Join();
        if (error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        }

        return result;
    }
}
