#!/usr/bin/python3
print("stub")
