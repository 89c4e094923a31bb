OPENQASM 2.0;
include "qelib1.inc";
/* every kind of angle */
qreg q[1];
rz(-pi/2) q[0]; rz(2^3^2) q[0]; rz(-2^-1) q[0]; rz((1+2)*3/4) q[0];
rz(1e-3) q[0]; rz(.5) q[0]; rz(3.) q[0]; rz(2.5E+2) q[0]; rz(--1) q[0];
rz(tau - 2*pi + euler) q[0];
rz(sin(pi/2) + cos(0)*exp(0) - ln(1) + sqrt(4) + tan(0) + asin(1) + acos(1) + atan(1)) q[0];
