using System.Runtime.InteropServices;
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
        return RunOnThread("/run/netns/" + name, create, static (path, create) =>
        {
            using SafeFileHandle ns = File.OpenHandle(path);
            Enter(ns, path);
            return create();
        });
    }

    /// <summary>Runs <paramref name="create"/> on a fresh thread that has entered the namespace <paramref name="ns"/> refers to.</summary>
    internal static T Run<T>(SafeHandle ns, Func<T> create) =>
        RunOnThread(ns, create, static (ns, create) =>
        {
            Enter(ns, "the sender's network namespace");
            return create();
        });

    private static void Enter(SafeHandle ns, string what)
    {
        if (Interop.Sys.SetNs(ns, Interop.CLONE_NEWNET) != 0)
        {
            ThrowHelper.ThrowSocket("setns(" + what + ", CLONE_NEWNET)", Marshal.GetLastPInvokeError());
        }
    }

    // The thread ends afterwards, so no pooled thread is ever left in another namespace.
    private static T RunOnThread<TState, T>(TState state, Func<T> create, Func<TState, Func<T>, T> body)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = body(state, create);
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
