/* Test only, never in an installer: Go's Windows runtime (1.24 and later)
   draws its random numbers from ProcessPrng in bcryptprimitives.dll, which
   Debian 12's Wine 8 does not have. This stand-in gives it RtlGenRandom
   (advapi32's SystemFunction036), so that cardbridge.exe runs under Wine
   in the MSI test. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst;
    (void)reason;
    (void)reserved;
    return TRUE;
}
