# The TCP file-download client of ../shared/seeds/003 (客户端.py), as the course prints it.
# The test replaces the server IP and port, nothing else; it runs the script in a folder
# that has "C:/Users/haoli/Desktop/" inside it, where the script saves the file.
'''
1、导入模块
2、创建套接字
3、建立连接
4、接收用户输入的文件名
5、发送文件名到服务器
6、创建文件,并且准备保存
7、接收服务器发送的数据,保存到本地(循环)
8、关闭套接字
'''
# 1、导入模块
import socket
# 2、创建套接字
tcp_client_socket=socket.socket(socket.AF_INET,socket.SOCK_STREAM)
# 3、建立连接
tcp_client_socket.connect(("192.168.145.1",8080))
# 4、接收用户输入的文件名
file_name=input("请输入要下载的文件名:")
# 5、发送文件名到服务器
tcp_client_socket.send(file_name.encode())
# 6、创建文件,并且准备保存
with open("C:/Users/haoli/Desktop/"+file_name,"wb") as file:
   while True:
        # 7、接收服务器发送的数据,保存到本地(循环)
        file_data=tcp_client_socket.recv(1024)
        #判断数据是否传送完毕
        if file_data:
            file.write(file_data)
        else:
            break
# 8、关闭套接字
tcp_client_socket.close()
