#!/usr/bin/env python3
# hrw_ref.py - an independent re-implementation of src/route/hrw.c's hash, score and pick
# (Python 3 stdlib only), written from the description in docs/ROUTING.md. It prints the
# values that tests/unit/test_hrw.c pins (test_hash_pinned, test_pick_pinned): if the C
# code and this script disagree, one of them drifted from the documented function.
# Usage: python3 tests/unit/hrw_ref.py
import math, struct
M=(1<<64)-1
P1=0x9E3779B185EBCA87;P2=0xC2B2AE3D27D4EB4F;P3=0x165667B19E3779F9;P4=0x85EBCA77C2B2AE63
SEED=0x6C6F676469737472
def rotl(x,r): return ((x<<r)|(x>>(64-r)))&M
def fmix(k):
    k^=k>>33; k=(k*0xFF51AFD7ED558CCD)&M; k^=k>>33; k=(k*0xC4CEB9FE1A85EC53)&M; k^=k>>33; return k
def rnd(h,k):
    k=(k*P2)&M; k=rotl(k,31); k=(k*P1)&M; h^=k; return (rotl(h,27)*P1+P4)&M
def hh(b):
    h=SEED^((len(b)*P3)&M); i=0
    while i+8<=len(b):
        h=rnd(h,int.from_bytes(b[i:i+8],'little')); i+=8
    t=int.from_bytes(b[i:],'little') if i<len(b) else 0
    return fmix(rnd(h,t))
def score(kh,mh,w):
    x=fmix(kh^fmix(mh^P4)); h=((x>>12)+0.5)*2.0**-52; return -w/math.log(h)
def pick(kh,mhs,ws):
    best=-1;bs=None
    for i,(m,w) in enumerate(zip(mhs,ws)):
        if not w>0: continue
        s=score(kh,m,w)
        if best<0 or s>bs or (s==bs and m<mhs[best]): best=i;bs=s
    return best
strs=[b"",b"a",b"abc",b"01234567",b"012345678",b"user-42",b"trace-0f3a9c",b"\xc3\xa9t\xc3\xa9",b"The quick brown fox jumps over the lazy dog"]
for s in strs: print('{"%s", 0x%016xull},'%(''.join('\\x%02x'%c if c>=0x80 else chr(c) for c in s), hh(s)))
ids=[b"analyzer-a",b"analyzer-b",b"analyzer-c",b"analyzer-d"]
mh=[hh(i) for i in ids]; w=[4,3,2,1]
keys=[b"user-%d"%i for i in range(16)]
print([pick(hh(k),mh,w) for k in keys])
print([pick(hh(k),mh,[1,1,1,1]) for k in keys])
print('%.17g'%score(hh(b"user-0"),mh[0],4.0))
